"""Open Payments (CMS) cross-check: NPIs, the import of the published files, manufacturers
linked to the company registry, and the advisory panel of the review page."""
