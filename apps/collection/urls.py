from django.urls import path

from apps.collection import views

app_name = "collection"
urlpatterns = [
    path("write/", views.write, name="write"),
    path("preview/", views.preview, name="preview"),
    path("mine/", views.mine, name="mine"),
    path("browse/", views.browse, name="browse"),
    path("imports/", views.imports, name="imports"),
    path("imports/<int:import_id>/", views.import_detail, name="import-detail"),
    path("imports/<int:import_id>/resume/", views.import_resume, name="import-resume"),
    path("imports/<int:import_id>/discard/", views.import_discard, name="import-discard"),
    path("policy/", views.policy, name="policy"),
    path("prompts/<int:prompt_id>/", views.prompt_detail, name="prompt-detail"),
    path("prompts/<int:prompt_id>/edit/", views.prompt_edit, name="prompt-edit"),
    path("prompts/<int:prompt_id>/withdraw/", views.prompt_withdraw, name="prompt-withdraw"),
    path("prompts/<int:prompt_id>/answer/", views.answer, name="answer"),
    path("responses/<int:response_id>/edit/", views.response_edit, name="response-edit"),
    path(
        "responses/<int:response_id>/withdraw/", views.response_withdraw, name="response-withdraw"
    ),
]
