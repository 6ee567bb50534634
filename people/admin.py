from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from pfmg.admin_base import LargeTableAdminMixin, ReadOnlyAdminMixin

from . import services
from .models import (
    ApiToken,
    AssistantAssignment,
    CounsellorSupervision,
    Department,
    Establishment,
    IdempotentRequest,
    Laboratory,
    LaboratoryMembership,
    RcpBody,
    RcpMembership,
    ReferenceCentre,
    Region,
    Territory,
    User,
)


class LaboratoryMembershipInline(admin.TabularInline):
    model = LaboratoryMembership
    extra = 0
    # A laboratory's page lists its members: each row's user is searched as one types, not a <select> of
    # every account of the country.
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "laboratory")


class RcpMembershipInline(admin.TabularInline):
    model = RcpMembership
    extra = 0
    autocomplete_fields = ["rcp", "user"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "rcp")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (_("Exercice"), {"fields": ("rpps", "establishment", "is_machine_account")}),
    )
    readonly_fields = ("is_machine_account",)
    list_display = ("username", "last_name", "first_name", "email", "establishment", "roles", "is_active")
    list_filter = (
        "groups",
        "is_active",
        "is_staff",
        "is_machine_account",
        "establishment__department__region",
    )
    search_fields = ("username", "last_name", "first_name", "email", "rpps")
    autocomplete_fields = ["establishment"]
    inlines = [RcpMembershipInline, LaboratoryMembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("establishment").prefetch_related("groups")

    @admin.display(description=_("rôles"))
    def roles(self, obj):
        return ", ".join(g.name for g in obj.groups.all())

    def user_change_password(self, request, id, form_url=""):
        # A machine account never has a password (a database constraint): its way in is a token.
        if User.objects.filter(pk=id, is_machine_account=True).exists():
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)


class DepartmentInline(admin.TabularInline):
    model = Department
    extra = 0


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "overseas", "laboratory")
    list_filter = ("overseas", "territory__laboratory")
    search_fields = ("name", "code")
    inlines = [DepartmentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("territory__laboratory")

    @admin.display(description=_("laboratoire"))
    def laboratory(self, obj):
        territory = getattr(obj, "territory", None)
        return territory.laboratory if territory else "—"


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "region")
    list_filter = ("region",)
    search_fields = ("code", "name")
    list_select_related = ("region",)


@admin.register(Establishment)
class EstablishmentAdmin(admin.ModelAdmin):
    list_display = ("name", "finess", "kind", "city", "department")
    list_filter = ("kind", "department__region")
    search_fields = ("name", "finess", "city")
    list_select_related = ("department",)
    autocomplete_fields = ["department"]


@admin.register(ReferenceCentre)
class ReferenceCentreAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "filiere", "establishment")
    list_filter = ("kind", "filiere")
    search_fields = ("name", "filiere", "establishment__name")
    list_select_related = ("establishment",)
    autocomplete_fields = ["establishment"]


class TerritoryInline(admin.TabularInline):
    model = Territory
    extra = 0


@admin.register(Laboratory)
class LaboratoryAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "city", "eprescription_tool")
    search_fields = ("name", "code")
    inlines = [TerritoryInline, LaboratoryMembershipInline]
    actions = ["issue_machine_token", "revoke_machine_tokens"]

    def has_machine_token_permission(self, request) -> bool:
        return request.user.has_perm("people.add_apitoken") and request.user.has_perm(
            "people.change_apitoken"
        )

    @admin.action(
        description=_("Émettre un jeton pour le compte machine du laboratoire"), permissions=["machine_token"]
    )
    def issue_machine_token(self, request, queryset):
        for laboratory in queryset:
            token, clear = services.issue_machine_token(laboratory=laboratory)
            # Shown this once (only its hash is kept): the laboratory's system is configured with it now.
            self.message_user(
                request,
                _(
                    "Jeton du compte %(user)s (valable jusqu'au %(until)s, affiché cette seule fois) : %(token)s"
                )
                % {"user": token.user.username, "until": f"{token.expires_at:%d/%m/%Y}", "token": clear},
                messages.WARNING,
            )

    @admin.action(
        description=_("Révoquer les jetons du compte machine du laboratoire"), permissions=["machine_token"]
    )
    def revoke_machine_tokens(self, request, queryset):
        count = sum(services.revoke_machine_tokens(laboratory=laboratory) for laboratory in queryset)
        self.message_user(
            request,
            ngettext("%(count)d jeton révoqué.", "%(count)d jetons révoqués.", count) % {"count": count},
        )


@admin.register(Territory)
class TerritoryAdmin(admin.ModelAdmin):
    list_display = ("region", "laboratory", "disputed", "note")
    list_filter = ("laboratory", "disputed", "region__overseas")
    list_editable = ("laboratory",)
    search_fields = ("region__name",)
    list_select_related = ("region", "laboratory")


@admin.register(RcpBody)
class RcpBodyAdmin(admin.ModelAdmin):
    list_display = ("name", "city", "scope", "multi_theme_rare_disease", "wait_warning_days")
    list_filter = ("scope", "multi_theme_rare_disease")
    search_fields = ("name", "city")
    autocomplete_fields = ["establishment"]
    inlines = [RcpMembershipInline]


@admin.register(RcpMembership)
class RcpMembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "rcp", "function")
    list_filter = ("function", "rcp")
    search_fields = ("user__username", "user__last_name", "rcp__name")
    list_select_related = ("user", "rcp")
    autocomplete_fields = ["user", "rcp"]


@admin.register(LaboratoryMembership)
class LaboratoryMembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "laboratory", "function")
    list_filter = ("function", "laboratory")
    search_fields = ("user__username", "user__last_name")
    list_select_related = ("user", "laboratory")
    autocomplete_fields = ["user"]


@admin.register(AssistantAssignment)
class AssistantAssignmentAdmin(admin.ModelAdmin):
    list_display = ("assistant",)
    search_fields = ("assistant__username", "assistant__last_name")
    autocomplete_fields = ["assistant", "sites", "departments", "prescribers"]


@admin.register(CounsellorSupervision)
class CounsellorSupervisionAdmin(admin.ModelAdmin):
    list_display = ("counsellor", "geneticist")
    search_fields = ("counsellor__username", "geneticist__username")
    list_select_related = ("counsellor", "geneticist")
    autocomplete_fields = ["counsellor", "geneticist"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Tokens are issued by the API only; here they are listed and revoked (a revoked token stays listed, with its
    dates: nothing is deleted). The hash is never shown."""

    list_display = ("prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("prefix__startswith", "user__username__exact")
    search_help_text = _("Début du préfixe du jeton, ou identifiant exact de son utilisateur.")
    ordering = ("-pk",)
    sortable_by = ("prefix",)
    fields = ("prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    list_select_related = ("user",)
    actions = ["revoke"]

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("people.change_apitoken")

    @admin.action(description=_("Révoquer les jetons sélectionnés"), permissions=["revoke"])
    def revoke(self, request, queryset):
        count = services.revoke_api_tokens(tokens=queryset)
        self.message_user(
            request,
            ngettext("%(count)d jeton révoqué.", "%(count)d jetons révoqués.", count) % {"count": count},
        )


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """The API answers kept for retries (people.idempotency): read only, purged after IDEMPOTENCY_KEY_HOURS. The
    client is a hash of its credentials; the stored answer's body is not shown."""

    list_display = ("created_at", "method", "path", "key", "status_code")
    list_filter = ("method", "status_code")
    search_fields = ("key__exact",)
    search_help_text = _("La clé Idempotency-Key exacte.")
    ordering = ("-pk",)
    sortable_by = ()
    fields = ("created_at", "client", "key", "method", "path", "body_hash", "status_code", "content_type")
    readonly_fields = fields
