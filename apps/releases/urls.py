from django.urls import path

from apps.releases import api, views

app_name = "releases"
urlpatterns = [
    path("releases/", views.release_list, name="list"),
    path("releases/new/", views.release_create, name="create"),
    path("releases/<str:version>/", views.release_detail, name="detail"),
    path("releases/<str:version>/publish/", views.release_publish, name="publish"),
    path("releases/<str:version>/rebuild/", views.release_rebuild, name="rebuild"),
    path("releases/<str:version>/files/<path:path>", views.release_file, name="file"),
    # Beside the other release endpoints of apps/api_urls.py, where it belongs once that list
    # is edited; the API behaves the same under any name (it goes by the /api/ path).
    path(
        "api/v1/releases/<str:version>/rebuild/",
        api.ReleaseRebuildApi.as_view(),
        name="api-rebuild",
    ),
]
