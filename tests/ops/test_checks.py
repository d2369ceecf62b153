"""The MEDIA_ROOT system check."""

from __future__ import annotations

from django.test import override_settings

from exolims.checks import check_media_root_writable


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_writable_media_root_passes(tmp_path):
    with override_settings(MEDIA_ROOT=tmp_path / "media"):
        assert check_media_root_writable() == []  # missing but creatable
    (tmp_path / "media").mkdir()
    with override_settings(MEDIA_ROOT=tmp_path / "media"):
        assert check_media_root_writable() == []
    assert list(tmp_path.joinpath("media").iterdir()) == []  # the probe file is gone


def test_media_root_that_is_a_file_is_an_error(tmp_path):
    blocker = tmp_path / "media"
    blocker.write_text("not a directory")
    with override_settings(MEDIA_ROOT=blocker):
        assert ids(check_media_root_writable()) == ["exolims.E001"]
    with override_settings(MEDIA_ROOT=blocker / "uploads"):
        assert ids(check_media_root_writable()) == ["exolims.E001"]


def test_unwritable_media_root_is_an_error(tmp_path, monkeypatch):
    # Root ignores permission bits, so simulate the failure the check must report.
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    with override_settings(MEDIA_ROOT=tmp_path):
        messages = check_media_root_writable()
    assert ids(messages) == ["exolims.E002"]
    assert "Permission denied" in messages[0].msg


def test_check_is_registered():
    from django.core.checks import registry

    assert check_media_root_writable in registry.registry.get_checks()
