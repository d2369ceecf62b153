"""System checks for deployment problems that would otherwise surface as a 500 on upload."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register("exolims")
def check_media_root_writable(app_configs=None, **kwargs) -> list[CheckMessage]:
    """MEDIA_ROOT (or, before the first upload, the directory that will hold it) is writable."""
    media_root = Path(settings.MEDIA_ROOT)
    hint = (
        "Point MEDIA_ROOT at a directory the server's user can write to "
        "(in Docker: a volume owned by the app user)."
    )
    if media_root.exists() and not media_root.is_dir():
        return [Error(f"MEDIA_ROOT {media_root} is not a directory.", hint=hint, id="exolims.E001")]
    # Django creates MEDIA_ROOT on the first upload, so a missing one only needs a writable parent.
    target = media_root
    while not target.exists():
        target = target.parent
    if not target.is_dir():
        return [
            Error(
                f"MEDIA_ROOT {media_root} cannot be created: {target} is not a directory.",
                hint=hint,
                id="exolims.E001",
            )
        ]
    try:
        # os.access() says yes to root even on read-only mounts; writing a file is the real test.
        with tempfile.NamedTemporaryFile(dir=target, prefix=".write-check-"):
            pass
    except OSError as exc:
        return [
            Error(
                f"MEDIA_ROOT {media_root} is not writable ({exc.strerror or exc}).",
                hint=hint,
                id="exolims.E002",
            )
        ]
    return []
