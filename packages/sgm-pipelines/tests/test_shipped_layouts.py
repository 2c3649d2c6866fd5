import pytest

from sgm.pipelines import catalog
from sgm.core.checkpoint import layout_of

LAYOUTS = {entry.layout: entry.name for entry in reversed(list(catalog.CATALOG.values()))}


@pytest.mark.slow
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_shipped_layout_is_the_built_models(layout):
    shipped = catalog.shipped_layout(LAYOUTS[layout])
    assert shipped is not None, f"run `uv run python -m sgm.pipelines.shipped_layouts` to ship {layout}"
    assert shipped == layout_of(catalog.build_model(LAYOUTS[layout], device="meta"))
