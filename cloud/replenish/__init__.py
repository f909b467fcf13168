"""Replenishment: what each store and warehouse should buy or move next (pure core).

No I/O, no database, no clock: arrays of sales history and master data in, forecasts and
suggestions out. The cloud's nightly job (not yet written) reads the ledger and writes the results.

- `promotions`: the promotions calendar (Double 11, 618, the chain's own days) and the uplift each
  one brings, estimated from history.
- `classify`: demand classes by ADI / CV² (Syntetos, Boylan & Croston 2005).
- `series`: one SKU at one location.
- `forecast`: daily demand per SKU × location with statsforecast, priors for new products and stores.
- `service`: safety stock for a fill-rate target from demand and lead-time variance.
- `policy`: reorder points, order-up-to levels, order quantities (packs, minimums, capacity,
  shelf life), transfers before purchases, purchase suggestions per supplier, and the three-level
  emergency.
"""
