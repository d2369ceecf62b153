from django.apps import AppConfig


class ExolimsConfig(AppConfig):
    name = "exolims"
    verbose_name = "ExoLIMS accounts and API access"
