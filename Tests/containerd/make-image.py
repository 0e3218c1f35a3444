#!/usr/bin/env python3
"""Builds a 3-layer OCI image archive from busybox-static, with no registry:
layer 1: busybox and a base tree; layer 2: a whiteout (deleted file) and an opaque
directory; layer 3: a file on top.
Usage: make-image.py OUT.tar NAME:TAG [LAYER.tar ...]
                                           an OCI image archive (containerd's `ctr image import`,
                                           `podman load`), with the given layer tars on top
       make-image.py --layers DIR          the three layer tars alone, DIR/layer-{1,2,3}.tar"""
import hashlib, io, json, os, sys, tarfile, time

BUSYBOX = "/bin/busybox"


def add_dir(tar, name, mode=0o755):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, int(time.time())
    tar.addfile(info)


def add_file(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def add_link(tar, name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, int(time.time())
    tar.addfile(info)


def layer(build):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return buf.getvalue()


def layer1(tar):
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "data", "data/dir"]:
        add_dir(tar, d, 0o1777 if d == "tmp" else 0o755)
    with open(BUSYBOX, "rb") as f:
        add_file(tar, "bin/busybox", f.read(), 0o755)
    for tool in ["sh", "cat", "ls", "echo", "test", "find", "wc"]:
        add_link(tar, f"bin/{tool}", "busybox")
    add_file(tar, "etc/motd", b"layer one\n")
    add_file(tar, "etc/removeme", b"this file is deleted by layer two\n")
    add_file(tar, "data/dir/old-a", b"hidden by the opaque directory\n")
    add_file(tar, "data/dir/old-b", b"hidden by the opaque directory\n")


def layer2(tar):
    add_dir(tar, "etc")
    add_file(tar, "etc/.wh.removeme", b"")  # whiteout: etc/removeme is deleted
    add_dir(tar, "data")
    add_dir(tar, "data/dir")
    add_file(tar, "data/dir/.wh..wh..opq", b"")  # opaque: data/dir starts empty here
    add_file(tar, "data/dir/new", b"only file after the opaque directory\n")


def layer3(tar):
    add_file(tar, "top.txt", b"hello from the top layer\n")


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size, info.mtime = len(data), int(time.time())
    out.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}", len(data)


def main():
    layers = [layer(b) for b in (layer1, layer2, layer3)]
    if sys.argv[1] == "--layers":
        for number, data in enumerate(layers, 1):
            with open(os.path.join(sys.argv[2], f"layer-{number}.tar"), "wb") as f:
                f.write(data)
        return
    path, ref = sys.argv[1], sys.argv[2]
    for extra in sys.argv[3:]:
        with open(extra, "rb") as f:
            layers.append(f.read())
    with tarfile.open(path, "w") as out:
        descriptors = []
        for data in layers:
            digest, size = blob(out, data)
            descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size})
        config = {
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
        }
        config_digest, config_size = blob(out, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": descriptors,
        }
        manifest_digest, manifest_size = blob(out, json.dumps(manifest).encode())
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
            "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.split(":")[-1]},
        }]}
        for name, data in (("index.json", json.dumps(index).encode()), ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(time.time())
            out.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
