from django.apps import AppConfig


class AssaysConfig(AppConfig):
    name = "assays"
    verbose_name = "Isolation and characterisation"

    def ready(self) -> None:
        # The tube page shows this app's particle results through samples' panel
        # registry, so samples never imports assays.
        from samples.panels import register_panel

        from .views.compliance import compliance_panel
        from .views.particles import characterisation_panel
        from .views.runs import isolation_panel

        register_panel(isolation_panel)
        register_panel(characterisation_panel)
        register_panel(compliance_panel)
