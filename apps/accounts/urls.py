from django.urls import path

from apps.accounts import views

app_name = "accounts"
urlpatterns = [
    path("licence/", views.licence, name="licence"),
    path("profile/", views.profile, name="profile"),
    path("profile/export/", views.data_export, name="export"),
    path("profile/delete/", views.account_delete, name="delete"),
    path("profile/tokens/", views.token_create, name="token-create"),
    path("profile/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
]
