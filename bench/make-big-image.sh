#!/usr/bin/env bash
# Generates a docker-save archive of several layers, each of many files (half random bytes, half
# text), for benchmarks: make-big-image.sh OUT.tar [TOTAL_MB] [LAYERS]. Deterministic for a given size.
set -euo pipefail
out=$1; total_mb=${2:-600}; layers=${3:-4}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$work" "$total_mb" "$layers" <<'PY'
import hashlib, json, os, random, sys, tarfile, io
work, total_mb, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
per_layer = total_mb * 1024 * 1024 // layers
diff_ids, names = [], []
words = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ".split()
for n in range(layers):
    path = os.path.join(work, f"layer{n}.tar")
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        size = 0; i = 0
        while size < per_layer:
            length = rng.randint(1024, 256 * 1024)
            if i % 2:
                data = rng.randbytes(length)
            else:
                data = b" ".join(rng.choice(words) for _ in range(length // 6))[:length]
            ext = ".pyc" if i % 10 == 0 else ".dat"
            info = tarfile.TarInfo(f"opt/bench/l{n}/d{i // 100}/f{i}{ext}")
            info.size = len(data); info.mtime = 1700000000 + i; info.mode = 0o644
            t.addfile(info, io.BytesIO(data)); size += len(data); i += 1
    h = hashlib.sha256(open(path, "rb").read()).hexdigest()
    os.makedirs(os.path.join(work, "img", h), exist_ok=True)
    os.rename(path, os.path.join(work, "img", h, "layer.tar"))
    diff_ids.append("sha256:" + h); names.append(f"{h}/layer.tar")
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
c = hashlib.sha256(config).hexdigest()
open(os.path.join(work, "img", c + ".json"), "wb").write(config)
json.dump([{"Config": c + ".json", "RepoTags": ["localhost/bench/big:latest"], "Layers": names}], open(os.path.join(work, "img", "manifest.json"), "w"))
PY
(cd "$work/img" && tar --format=gnu -cf "$work/out.tar" ./*)
mv "$work/out.tar" "$out"
echo "wrote $out ($(du -m "$out" | cut -f1) MB, $layers layers)"
