"""Every area's tables, imported so that the metadata (and Alembic) sees them all."""

from trim import idempotency  # noqa: F401
from trim.accounts import models as accounts_models  # noqa: F401
from trim.assessments import models as assessments_models  # noqa: F401
from trim.dashboard import models as dashboard_models  # noqa: F401
from trim.db import metadata
from trim.flags import models as flags_models  # noqa: F401
from trim.followups import models as followups_models  # noqa: F401
from trim.groups import models as groups_models  # noqa: F401
from trim.incidents import models as incidents_models  # noqa: F401
from trim.notifications import models as notifications_models  # noqa: F401
from trim.peers import models as peers_models  # noqa: F401
from trim.planning import models as planning_models  # noqa: F401
from trim.privacy import models as privacy_models  # noqa: F401
from trim.referrals import models as referrals_models  # noqa: F401
from trim.reports import models as reports_models  # noqa: F401
from trim.requests import models as requests_models  # noqa: F401
from trim.sharing import models as sharing_models  # noqa: F401

__all__ = ["metadata"]
