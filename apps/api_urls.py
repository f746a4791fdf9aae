"""/api/v1/: every API endpoint in one list."""

from django.urls import path

from apps.accounts import api as accounts_api
from apps.assignments import api as tasks_api
from apps.collection import api as collection_api
from apps.collection import api_imports, api_policy
from apps.community import api as community_api
from apps.core import api_system
from apps.moderation import api as moderation_api
from apps.moderation import api_people as moderation_api_people
from apps.releases import api as releases_api
from apps.training import api as training_api

urlpatterns = [
    path("releases/", releases_api.ReleasesApi.as_view(), name="releases"),
    path("releases/<str:version>/", releases_api.ReleaseDetailApi.as_view(), name="release-detail"),
    path(
        "releases/<str:version>/publish/",
        releases_api.ReleasePublishApi.as_view(),
        name="release-publish",
    ),
    path(
        "releases/<str:version>/rebuild/",
        releases_api.ReleaseRebuildApi.as_view(),
        name="release-rebuild",
    ),
    path("training-runs/", training_api.TrainingRunsApi.as_view(), name="training-runs"),
    path(
        "training-runs/<int:run_id>/",
        training_api.TrainingRunDetailApi.as_view(),
        name="training-run-detail",
    ),
    path(
        "training-runs/<int:run_id>/cancel/",
        training_api.TrainingRunCancelApi.as_view(),
        name="training-run-cancel",
    ),
    path(
        "training-runs/<int:run_id>/retry/",
        training_api.TrainingRunRetryApi.as_view(),
        name="training-run-retry",
    ),
    path("training-schedules/", training_api.SchedulesApi.as_view(), name="training-schedules"),
    path(
        "training-schedules/<int:schedule_id>/",
        training_api.ScheduleDetailApi.as_view(),
        name="training-schedule-detail",
    ),
    path("policy/", api_policy.PolicyApi.as_view(), name="policy"),
    path("system/", api_system.SystemApi.as_view(), name="system"),
    path("flags/", moderation_api.FlagsApi.as_view(), name="flags"),
    path("moderation/queue/", moderation_api.QueueApi.as_view(), name="moderation-queue"),
    path("moderation/log/", moderation_api.AuditLogApi.as_view(), name="moderation-log"),
    path(
        "moderation/people/<int:user_id>/",
        moderation_api_people.PersonActivityApi.as_view(),
        name="moderation-person",
    ),
    path(
        "moderation/users/<int:user_id>/<str:action>/",
        moderation_api.UserActionApi.as_view(),
        name="moderation-user",
    ),
    path(
        "moderation/<str:kind>s/<int:target_id>/<str:action>/",
        moderation_api.ContentActionApi.as_view(),
        name="moderation-content",
    ),
    path("tasks/", tasks_api.MyTasksApi.as_view(), name="tasks"),
    path("tasks/next/", tasks_api.TaskNextApi.as_view(), name="task-next"),
    path("tasks/<int:task_id>/submit/", tasks_api.TaskSubmitApi.as_view(), name="task-submit"),
    path("tasks/<int:task_id>/skip/", tasks_api.TaskSkipApi.as_view(), name="task-skip"),
    path("me/", accounts_api.MeApi.as_view(), name="me"),
    path("me/licence/", accounts_api.LicenceApi.as_view(), name="me-licence"),
    path("me/export/", accounts_api.MyDataApi.as_view(), name="me-export"),
    path("me/stats/", community_api.MyStatsApi.as_view(), name="me-stats"),
    path(
        "community/leaderboard/",
        community_api.LeaderboardApi.as_view(),
        name="community-leaderboard",
    ),
    path("community/progress/", community_api.ProgressApi.as_view(), name="community-progress"),
    path("tokens/", accounts_api.TokensApi.as_view(), name="tokens"),
    path("tokens/<int:token_id>/", accounts_api.TokenRevokeApi.as_view(), name="token-revoke"),
    path("prompts/", collection_api.PromptsApi.as_view(), name="prompts"),
    path(
        "prompts/<int:prompt_id>/", collection_api.PromptDetailApi.as_view(), name="prompt-detail"
    ),
    path(
        "prompts/<int:prompt_id>/withdraw/",
        collection_api.PromptWithdrawApi.as_view(),
        name="prompt-withdraw",
    ),
    path(
        "prompts/<int:prompt_id>/responses/",
        collection_api.PromptResponsesApi.as_view(),
        name="prompt-responses",
    ),
    path("responses/", collection_api.MyResponsesApi.as_view(), name="responses"),
    path(
        "responses/<int:response_id>/",
        collection_api.ResponseDetailApi.as_view(),
        name="response-detail",
    ),
    path(
        "responses/<int:response_id>/withdraw/",
        collection_api.ResponseWithdrawApi.as_view(),
        name="response-withdraw",
    ),
    path("imports/", api_imports.ImportsApi.as_view(), name="imports"),
    path("imports/<int:import_id>/", api_imports.ImportDetailApi.as_view(), name="import-detail"),
    path(
        "imports/<int:import_id>/resume/",
        api_imports.ImportResumeApi.as_view(),
        name="import-resume",
    ),
    path(
        "imports/<int:import_id>/discard/",
        api_imports.ImportDiscardApi.as_view(),
        name="import-discard",
    ),
]
