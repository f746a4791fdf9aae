from django.urls import path

from apps.releases import views

app_name = "releases"
urlpatterns = [
    path("releases/", views.release_list, name="list"),
    path("releases/new/", views.release_create, name="create"),
    path("releases/<str:version>/", views.release_detail, name="detail"),
    path("releases/<str:version>/publish/", views.release_publish, name="publish"),
    path("releases/<str:version>/rebuild/", views.release_rebuild, name="rebuild"),
    path("releases/<str:version>/files/<path:path>", views.release_file, name="file"),
]
