"""Data preparation: raw parallel text -> cleaned -> joint sentencepiece BPE -> fairseq data-bin."""
