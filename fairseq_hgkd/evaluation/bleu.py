"""BLEU and chrF with sacrebleu on detokenized (sentencepiece-decoded) fairseq-generate output."""
import os
import re
import sys
from typing import Dict, List, Optional

from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.prepare.parallel_text import read_lines

_HYPOTHESIS = re.compile(r"^H-(\d+)\t[^\t]*\t?(.*)$")
SPM_SPACE = "\u2581"


def read_hypotheses(generate_output: str) -> Dict[int, str]:
    """{sentence id: first-best hypothesis} from a fairseq-generate output file."""
    if not os.path.isfile(generate_output):
        raise HgkdError(f"fairseq-generate output {generate_output} does not exist")
    hypotheses: Dict[int, str] = {}
    with open(generate_output, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = _HYPOTHESIS.match(line.rstrip("\n"))
            if match and int(match.group(1)) not in hypotheses:
                hypotheses[int(match.group(1))] = match.group(2)
    return hypotheses


def detokenize(text: str, spm_model=None) -> str:
    """Undo sentencepiece: decode with the model when given, else the piece-joining rule."""
    if SPM_SPACE not in text:
        return text.strip()  # already post-processed (e.g. --remove-bpe sentencepiece)
    if spm_model is not None:
        return spm_model.decode_pieces(text.split())
    return text.replace(" ", "").replace(SPM_SPACE, " ").strip()


def ordered_hypotheses(generate_output: str, n_refs: int, spm_model=None):
    """Hypotheses in reference order; a sentence fairseq-generate did not emit counts as empty."""
    found = read_hypotheses(generate_output)
    extra = [i for i in found if i >= n_refs]
    if extra:
        raise HgkdError(
            f"{generate_output} has hypotheses for sentence ids up to {max(extra)} but the "
            f"references have {n_refs} lines; was it generated on another subset?"
        )
    missing = n_refs - len(found)
    if missing:
        print(f"[eval] warning: {generate_output} lacks {missing} of {n_refs} hypotheses; "
              "they are scored as empty", file=sys.stderr)
    return [detokenize(found.get(i, ""), spm_model) for i in range(n_refs)], missing


def score(hypotheses: List[str], references: List[str]) -> dict:
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(), CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu_score.score, 2),
        "chrf": round(chrf_score.score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def load_references(path: str) -> List[str]:
    if not os.path.isfile(path):
        raise HgkdError(f"reference file {path} does not exist")
    return list(read_lines(path))


def load_spm(path: Optional[str]):
    if path is None or not os.path.isfile(path):
        return None
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=path)
