"""The names of the run's extra variables (-e): the app role lets them override every app's own
settings, as `-e` overrides everything in Ansible (plugins/filter/apps.py, fastapi_app_runs).

Ansible merges extra variables into the others and keeps no record of which came from -e; the
values themselves are read as any variable (they win over every other source), only the names
come from here.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.lookup import LookupBase
from ansible.utils.vars import load_extra_vars

DOCUMENTATION = """
name: extra_var_names
short_description: The names of the run's extra variables
description:
  - The names of the variables given with -e (key=value, JSON, YAML or @file), sorted.
  - Their values are every variable's, read as usual; only the names are returned.
options: {}
"""

RETURN = """
_raw:
  description: The names of the extra variables, sorted.
"""


class LookupModule(LookupBase):
    def run(
        self,
        terms: list[Any],
        variables: dict[str, Any] | None = None,
        **kwargs: Any,  # noqa: ANN401 - a lookup's options, any type
    ) -> list[str]:
        return sorted(load_extra_vars(self._loader))
