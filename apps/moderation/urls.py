from django.urls import path

from apps.moderation import views

app_name = "moderation"
urlpatterns = [
    path("flag/<str:kind>/<int:target_id>/", views.flag, name="flag"),
    path("moderation/", views.queue, name="queue"),
    path("moderation/hidden/", views.hidden, name="hidden"),
    path("moderation/people/", views.people, name="people"),
    path("moderation/people/<int:user_id>/", views.person, name="person"),
    path("moderation/log/", views.log, name="log"),
    path("moderation/<str:kind>/<int:target_id>/<str:action>/", views.act, name="act"),
]
