#!/bin/bash
# enter: switch to a throw-away branch whose tree lacks the tracked checkpoints and embedded test set
# (about 88 MB), so that a device call fits in 64 MiB; leave: back to the branch you came from.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
case "${1:-}" in
  enter)
    [ -z "$(git status --porcelain)" ] || { echo "commit or stash your changes first" >&2; exit 1; }
    git rev-parse --abbrev-ref HEAD > .git/lease-return-branch
    git checkout -q -b lease-small-tree
    git rm -r -q baselines/codecs/mdct_rvq/checkpoints/*.pt systems/codesep/checkpoints/*.pt \
      systems/tokensplit/checkpoints/*.pt baselines/separators/pretrained bench/data/embedded
    git commit -q -m "throw-away: small tree for a device call"
    git ls-files -z | xargs -0 du -bc | tail -1 ;;
  leave)
    git checkout -q "$(cat .git/lease-return-branch)" && git branch -q -D lease-small-tree && rm .git/lease-return-branch ;;
  *) echo "usage: small_tree.sh enter|leave" >&2; exit 2 ;;
esac
