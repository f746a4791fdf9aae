from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import roles, selectors, services
from apps.accounts.models import ApiToken, User
from apps.accounts.permissions import SignedInBrowserForWrites
from apps.core.api import refuses_unknown_query, takes_no_body
from apps.core.fields import RefusesUnknownFields, StrictBooleanField, StrictCharField
from apps.core.schema import WRITE_ERRORS, errors
from apps.core.streaming import json_chunks, json_pieces


class MeOut(serializers.ModelSerializer[User]):
    languages = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="BCP-47 tags, e.g. en, de, pt-BR",
    )
    roles = serializers.SerializerMethodField()
    licence_accepted = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [*selectors.PROFILE_FIELDS, "roles", "licence_accepted"]
        read_only_fields = fields

    def get_roles(self, user: User) -> list[str]:
        names = set(user.groups.values_list("name", flat=True))
        return [r for r in (roles.VOLUNTEER, roles.MODERATOR, roles.MAINTAINER) if r in names]

    def get_licence_accepted(self, user: User) -> bool:
        return selectors.licence_accepted(user=user)


class MeApi(APIView):
    class MeUpdateIn(RefusesUnknownFields):
        read_back = tuple(MeOut.Meta.fields)
        display_name = StrictCharField(required=False)
        languages = serializers.ListField(child=StrictCharField(), required=False, max_length=50)
        attribution = StrictBooleanField(required=False)
        on_leaderboard = StrictBooleanField(required=False)

    @extend_schema(responses={200: MeOut, **errors(401)}, operation_id="me_retrieve")
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        return Response(MeOut(selectors.request_user(request)).data)

    @extend_schema(
        request=MeUpdateIn,
        responses={200: MeOut, **errors(*WRITE_ERRORS)},
        operation_id="me_partial_update",
    )
    def patch(self, request: Request) -> Response:
        user = selectors.request_user(request)
        payload = self.MeUpdateIn(data=request.data, context={"read": MeOut(user).data})
        payload.is_valid(raise_exception=True)
        user = services.profile_update(
            user=selectors.request_user(request), **payload.validated_data
        )
        return Response(MeOut(user).data)


class MyDataApi(APIView):
    @extend_schema(
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=(
                    "Everything Hearth holds that you wrote or chose (format "
                    f"`{selectors.EXPORT_FORMAT}`): `account`, `licence_acceptances`, "
                    "`api_tokens` (names, never secrets), `prompts`, `answers`, `reviews`, "
                    "`rankings` and `flags`, withdrawn and hidden work included. The same file "
                    "as 'Download your data' on the profile page."
                ),
            ),
            **errors(401),
        },
        operation_id="me_export",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> StreamingHttpResponse:
        # Sent as the rows are read (a power user's export is megabytes), in the text the
        # API's JSONRenderer writes. No docstring: drf-spectacular would publish it.
        data = selectors.account_export(user=selectors.request_user(request))
        response = StreamingHttpResponse(
            json_chunks(_rendered_in_pieces(data)), content_type=JSONRenderer.media_type
        )
        response["Cache-Control"] = "no-store"
        return response


def _rendered_in_pieces(data: dict[str, Any]) -> Iterator[str]:
    """``JSONRenderer().render(data)``'s text in pieces (``json_pieces``): its encoder and
    settings, and its escapes of U+2028 and U+2029. Without indentation, which the API's
    negotiation never asks for (``apps.core.negotiation``)."""
    renderer = JSONRenderer()
    encoder = renderer.encoder_class(
        ensure_ascii=renderer.ensure_ascii,
        allow_nan=not renderer.strict,
        separators=(",", ":") if renderer.compact else (", ", ": "),
    )
    for piece in json_pieces(data, encoder):
        yield piece.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


class LicenceApi(APIView):
    class LicenceOut(serializers.Serializer[Any]):
        name = serializers.CharField()
        version = serializers.CharField()
        url = serializers.CharField()
        accepted = serializers.BooleanField()

    def _body(self, request: Request) -> dict[str, Any]:
        return {
            "name": settings.HEARTH_LICENCE_NAME,
            "version": settings.HEARTH_LICENCE_VERSION,
            "url": settings.HEARTH_LICENCE_URL,
            "accepted": selectors.licence_accepted(user=request.user),
        }

    @extend_schema(responses={200: LicenceOut, **errors(401)}, operation_id="me_licence_retrieve")
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        return Response(self._body(request))

    @extend_schema(
        request=None,
        responses={200: LicenceOut, **errors(*WRITE_ERRORS)},
        operation_id="me_licence_accept",
    )
    @takes_no_body
    def post(self, request: Request) -> Response:
        services.licence_accept(user=selectors.request_user(request))
        return Response(self._body(request))


class TokenOut(serializers.ModelSerializer[ApiToken]):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class TokensApi(APIView):
    permission_classes = [IsAuthenticated, SignedInBrowserForWrites]

    class TokenCreateIn(RefusesUnknownFields):
        name = StrictCharField()

    class TokenCreatedOut(TokenOut):
        key = serializers.CharField(help_text="The secret; shown only in this response.")

        class Meta(TokenOut.Meta):
            fields = [*TokenOut.Meta.fields, "key"]
            read_only_fields = fields

    @extend_schema(responses={200: TokenOut(many=True), **errors(401)}, operation_id="tokens_list")
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        return Response(TokenOut(selectors.api_tokens_for_user(user=request.user), many=True).data)

    # Not idempotent on purpose: replaying would mean storing the secret in clear text.
    @extend_schema(
        request=TokenCreateIn,
        responses={201: TokenCreatedOut, **errors(*WRITE_ERRORS)},
        operation_id="tokens_create",
    )
    def post(self, request: Request) -> Response:
        payload = self.TokenCreateIn(data=request.data)
        payload.is_valid(raise_exception=True)
        token, key = services.api_token_create(
            user=selectors.request_user(request), name=payload.validated_data["name"]
        )
        token.key = key  # type: ignore[attr-defined]
        return Response(self.TokenCreatedOut(token).data, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    # Revoking answers 200 with the token, revoked_at set; revoking it again changes nothing
    # and answers the same, so a retried DELETE is safe. A bare serializer would be
    # documented as 204 for a DELETE, hence the explicit code.
    @extend_schema(
        request=None,
        responses={200: TokenOut, **errors(401, 403, 404)},
        operation_id="tokens_revoke",
    )
    def delete(self, request: Request, token_id: int) -> Response:
        token = selectors.api_token_get_for_user(user=request.user, token_id=token_id)
        return Response(TokenOut(services.api_token_revoke(token=token)).data)
