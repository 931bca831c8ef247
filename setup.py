"""Package discovery: ``systems/``, ``baselines/`` and ``metrics/`` install inside ``bench``.

Static metadata lives in pyproject.toml; only the folder -> package mapping is computed
here, so adding a sub-package (e.g. ``systems/codesep/``) needs no edit anywhere.
"""

from setuptools import find_packages, setup

MAPPED_FOLDERS = {"systems": "bench.systems", "baselines": "bench.baselines", "metrics": "bench.metrics"}
DATA_PATTERNS = ["*.flac", "*.wav", "*.csv", "*.md", "*.txt", "*.json", "*.yaml", "*.pt", "*.ckpt", "*.onnx",
                 "*.html"]

package_dir = {"bench": "bench"}
packages = find_packages(include=["bench", "bench.*"])
for folder, name in MAPPED_FOLDERS.items():
    package_dir[name] = folder
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(
    package_dir=package_dir,
    packages=packages,
    # every data file inside a package, at any depth (embedded test set, shipped checkpoints)
    package_data={"": DATA_PATTERNS + [f"**/{p}" for p in DATA_PATTERNS]},
)
