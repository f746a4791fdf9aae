from django.urls import path

from apps.training import views

app_name = "training"
urlpatterns = [
    path("training/", views.run_list, name="list"),
    path("training/new/", views.run_create, name="create"),
    path("training/runs/<int:run_id>/", views.run_detail, name="detail"),
    path("training/runs/<int:run_id>/data.json", views.run_data, name="data"),
    path("training/runs/<int:run_id>/cancel/", views.run_cancel, name="cancel"),
    path("training/runs/<int:run_id>/retry/", views.run_retry, name="retry"),
    path("training/runs/<int:run_id>/files/<path:path>", views.run_file, name="file"),
    path("training/schedules/<int:schedule_id>/", views.schedule_update, name="schedule"),
]
