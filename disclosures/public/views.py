"""Public pages (no login): room sheets and the all-faculty page."""

from flask import Blueprint

bp = Blueprint("public", __name__)
