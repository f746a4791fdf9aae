"""POST /api/v1/imports/: maintainers upload a Dolly-format JSONL file."""

from __future__ import annotations

from typing import cast

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.accounts.permissions import IsMaintainer
from apps.collection import importing
from apps.core.api import idempotent
from apps.core.fields import RefusesUnknownFields, StrictCharField
from apps.core.schema import IDEMPOTENT_ERRORS, WRITE_ERRORS, errors

# The origin recorded when an upload does not name its source.
DEFAULT_UPLOAD_SOURCE = "upload"


class ImportsApi(APIView):
    """Import a JSONL file; every line goes through the Write form's checks.

    The answer counts every non-blank line as imported, duplicate or rejected, and lists the
    first ``lines_listed_per_status`` lines of each status: an imported line with the new
    prompt's id, a duplicate with the id of the prompt already in Hearth, a rejected one with
    the reasons. When it lists fewer lines than it counts, ``lines_truncated`` is true and
    ``lines_omitted`` says how many it leaves out. Each line is imported or not on its own.
    A file that is empty, not UTF-8 text, or not JSON objects with Dolly's fields at its
    first line is refused with 400 and imports nothing.
    """

    permission_classes = [IsAuthenticated, IsMaintainer]
    parser_classes = [MultiPartParser, FormParser]

    class ImportIn(RefusesUnknownFields):
        file = serializers.FileField(
            allow_empty_file=True,
            help_text=_("JSONL: instruction, context, response, category, optional language."),
        )
        # Serializer fields are popped off the class, so this does not shadow Field.source.
        source = StrictCharField(required=False, default=DEFAULT_UPLOAD_SOURCE)  # type: ignore[assignment]
        licence = StrictCharField(required=False, default="")
        language = StrictCharField(required=False, default="en")
        state = serializers.ChoiceField(
            choices=sorted(importing.IMPORT_STATES), required=False, default="accepted"
        )

    OutputSerializer = inline_serializer(
        name="ImportReport",
        fields={
            "imported": serializers.IntegerField(),
            "duplicates": serializers.IntegerField(),
            "rejected": serializers.IntegerField(),
            "lines": serializers.ListField(
                help_text=_(
                    "The file's non-blank lines in order, at most lines_listed_per_status of "
                    "each status."
                ),
                child=inline_serializer(
                    name="ImportLine",
                    fields={
                        "line": serializers.IntegerField(),
                        "status": serializers.ChoiceField(
                            choices=[importing.IMPORTED, importing.DUPLICATE, importing.REJECTED]
                        ),
                        "prompt_id": serializers.IntegerField(required=False),
                        "errors": serializers.DictField(
                            child=serializers.ListField(child=serializers.CharField()),
                            required=False,
                        ),
                    },
                ),
            ),
            "lines_truncated": serializers.BooleanField(
                help_text=_("True when lines leaves out some of the lines counted.")
            ),
            "lines_omitted": serializers.IntegerField(
                help_text=_("How many of the lines counted are not in lines; 0 when all are.")
            ),
            "lines_listed_per_status": serializers.IntegerField(
                help_text=_(
                    "How many lines of each status (imported, duplicate, rejected) lines lists "
                    "at most: the first ones in the file."
                )
            ),
        },
    )

    @extend_schema(
        request={"multipart/form-data": ImportIn},
        responses={201: OutputSerializer, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS)},
        operation_id="imports_create",
    )
    @idempotent
    def post(self, request: Request) -> ApiResponse:
        # A form with a field twice would give the serializer the last file alone: the others
        # would go unimported under a 201.
        files = len(request.FILES.getlist("file"))
        if files > 1:
            raise serializers.ValidationError(
                {
                    "file": [
                        gettext("Send one file at a time: this request has %(count)d.")
                        % {"count": files}
                    ]
                }
            )
        payload = self.ImportIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        options = importing.check_import_options(
            source=data["source"],
            licence=data["licence"],
            language=data["language"],
            state=data["state"],
        )
        upload = data["file"]
        # A file that is not Dolly JSONL at all (empty, not UTF-8, another format) imports
        # nothing, as on the Import page; a later bad line is rejected in the report.
        importing.check_upload(upload, size=upload.size)
        report = importing.prompts_import_jsonl(
            upload,
            author=cast(User, request.user),  # IsMaintainer let in only signed-in users
            options=options,
            bytes_total=upload.size,
        )
        return ApiResponse(report.as_dict(), status=status.HTTP_201_CREATED)
