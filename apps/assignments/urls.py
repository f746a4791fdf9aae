from django.urls import path

from apps.assignments import views

app_name = "assignments"
urlpatterns = [
    path("contribute/", views.contribute, name="contribute"),
    path("contribute/<int:task_id>/", views.task, name="task"),
    path("contribute/<int:task_id>/skip/", views.skip, name="skip"),
    path("guidelines/", views.guidelines, name="guidelines"),
]
