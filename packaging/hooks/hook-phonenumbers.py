# Replaces pyinstaller-hooks-contrib's phonenumbers hook, which collects every submodule.
# phonenumbers loads each region's metadata by name (phonenumbers.data.region_XX), so
# those must all be collected; the geocoding, carrier and time-zone tables (40 MB of the
# package) are never used by Sheet Sync and stay out.
from PyInstaller.utils.hooks import collect_submodules

_UNUSED = ("phonenumbers.geodata", "phonenumbers.carrierdata", "phonenumbers.tzdata",
           "phonenumbers.geocoder", "phonenumbers.carrier", "phonenumbers.timezone")

hiddenimports = collect_submodules("phonenumbers", filter=lambda name: not name.startswith(_UNUSED))
