"""Finding a corpus file by name in a local directory, in archives there, or in downloaded archives."""
import os
import tarfile
import zipfile
from typing import Dict, List, Optional

from fairseq_hgkd.atomic_io import atomic_file
from fairseq_hgkd.prepare.download import download
from fairseq_hgkd.prepare.parallel_text import CorpusError

_ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip")


def _archives(directory: str) -> List[str]:
    found = []
    for root, _dirs, files in os.walk(directory):
        found += [os.path.join(root, f) for f in sorted(files) if f.endswith(_ARCHIVE_SUFFIXES)]
    return found


def _walk_for(directory: str, name: str) -> Optional[str]:
    for root, _dirs, files in os.walk(directory):
        if name in files:
            return os.path.join(root, name)
    return None


def _extract_member(archive: str, name: str, dest_dir: str) -> Optional[str]:
    """Extract the member whose base name is `name` (no other member is written)."""
    dest = os.path.join(dest_dir, name)
    if os.path.isfile(dest):
        return dest
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if os.path.basename(member) == name:
                    with z.open(member) as src, atomic_file(dest, "wb") as out:
                        out.write(src.read())
                    return dest
        return None
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and os.path.basename(member.name) == name:
                with tar.extractfile(member) as src, atomic_file(dest, "wb") as out:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        out.write(block)
                return dest
    return None


def locate(names: List[str], source: Optional[str], work_dir: str, urls: Dict[str, str],
           offline_hint: str) -> Dict[str, str]:
    """Paths of every file in `names`: from `source` (a directory or an archive), else downloaded.

    `urls` maps archive file names to their public address, used only when `source` is None.
    """
    found: Dict[str, str] = {}
    extract_dir = os.path.join(work_dir, "extracted")
    os.makedirs(extract_dir, exist_ok=True)
    if source is not None:
        if os.path.isdir(source):
            for name in names:
                path = _walk_for(source, name)
                if path:
                    found[name] = path
            archives = _archives(source)
        else:
            archives = [source]
    else:
        archives = []
        for archive, url in urls.items():
            path = download(url, os.path.join(work_dir, "downloads", archive), offline_hint)
            if archive in names:  # a plain file, not an archive
                found[archive] = path
            else:
                archives.append(path)
    for name in names:
        for archive in archives:
            if name in found:
                break
            path = _extract_member(archive, name, extract_dir)
            if path:
                found[name] = path
    missing = [n for n in names if n not in found]
    if missing:
        where = source or "the downloaded archives"
        raise CorpusError(f"{', '.join(missing)} not found in {where}; {offline_hint}")
    return found
