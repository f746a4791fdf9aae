from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    # allauth's own app is "Accounts" in the admin too (e-mail addresses).
    verbose_name = _("People and tokens")

    def ready(self) -> None:
        from allauth.account.signals import password_changed, password_reset

        from apps.accounts.signals import revoke_tokens_on_new_password

        for signal in (password_changed, password_reset):
            signal.connect(revoke_tokens_on_new_password, dispatch_uid="revoke_tokens")
