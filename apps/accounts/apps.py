from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    # allauth's own app is "Accounts" in the admin too (e-mail addresses).
    verbose_name = _("People and tokens")
