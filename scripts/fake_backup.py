"""Backups that look stored to a shallow check, for scripts/bench.sh's fleet-sized parts
(check, page, cost): an artifact of a few bytes and a manifest that matches its size. Never
restorable (the digests are zeros): only listings, manifests and judgements are measured.
"""

import json


def backup(source, at, recipient):
    """(id, artifact bytes, manifest bytes) of `source`'s backup made at `at` (UTC)."""
    bid = f"{source}-{at:%Y%m%dT%H%M%SZ}"
    sealed = b"age-encryption.org/v1 bench " + bid.encode()
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = {
        "format": "pbx321-manifest",
        "version": 1,
        "id": bid,
        "source": source,
        "created_at": stamp,
        "origin": {"name": "3CXScheduledBackup.zip", "time": stamp, "size": 1000},
        "plain": {"bytes": 1000, "sha256": "0" * 64},
        "sealed": {
            "bytes": len(sealed),
            "sha256": "0" * 64,
            "compression": "zstd",
            "encryption": "age",
            "recipients": [recipient],
        },
        "tool": {"name": "pbx321", "version": "bench"},
    }
    return bid, sealed, json.dumps(manifest).encode()
