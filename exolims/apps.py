from django.apps import AppConfig


class ExolimsConfig(AppConfig):
    name = "exolims"
    verbose_name = "ExoLIMS accounts and API access"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
