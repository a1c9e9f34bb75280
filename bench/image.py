"""Image: the app image's size over its base, layer by layer."""

from __future__ import annotations

from bench.common import Json, app_base_image, live_container, server_docker


def measure_image() -> Json:
    image = server_docker("inspect", "--format", "{{.Config.Image}}", live_container())
    size = int(server_docker("image", "inspect", "--format", "{{.Size}}", image))
    base = int(server_docker("image", "inspect", "--format", "{{.Size}}", app_base_image()))
    history = server_docker(
        "history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", image
    ).splitlines()
    base_history = server_docker("history", "--quiet", app_base_image()).splitlines()
    added = history[: len(history) - len(base_history)]
    layers = [
        {"mb": round(int(size_text) / 1e6, 2), "created_by": " ".join(created.split())[:200]}
        for size_text, created in (line.split("\t", 1) for line in added)
    ]
    return {
        "image": image,
        "size_mb": round(size / 1e6, 1),
        "base_mb": round(base / 1e6, 1),
        "added_mb": round((size - base) / 1e6, 1),
        "layers": layers,
    }
