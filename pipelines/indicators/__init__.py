"""The estimate stage: from a stored round to the `indicators` and `contrasts` tables.

- `catalogue.py` reads and checks the indicator catalogue (`surveys/indicators/`): what is estimated, in which
  universe, by which domains;
- `measures.py` builds each indicator's numerator and the domain columns from the harmonised columns;
- `estimate.py` estimates every catalogue indicator of a round with the design-based engine (`pipelines.estimation`)
  and the FIES model (`pipelines.fies`), and the within-round contrasts;
- `published.py` turns published figures into rows of the same table;
- `frames.py` tags indicators with the policy frames (GCM, SDG, MGI);
- `tables.py` holds the schemas of the derived tables (`indicators`, `contrasts`, `comparisons`), and
  `derived_tables_dictionary.csv` describes their columns for the exports.

Nothing is imported here, so a reader of one part (the report reads the catalogue) does not pay for the engine.
"""
