"""Data sets of the course: toy problems, real weather and synthetic epidemics.

Everything here is generated from a seed or read from an installed package, so
nothing is downloaded at run time. One module per data set; the public functions
are re-exported here, so notebooks write ``nodecourse.data.NAME``.
"""

from nodecourse.data.epidemic import (
    EpidemicTruth,
    Outbreak,
    make_outbreak,
    quarantine_policy,
)
from nodecourse.data.toy import disc_annulus_2d, reflection_1d
from nodecourse.data.weather import (
    UNITS,
    VARIABLES,
    MonthlyWeather,
    monthly_weather,
    seattle_daily,
)

__all__ = [
    "UNITS",
    "VARIABLES",
    "EpidemicTruth",
    "MonthlyWeather",
    "Outbreak",
    "disc_annulus_2d",
    "make_outbreak",
    "monthly_weather",
    "quarantine_policy",
    "reflection_1d",
    "seattle_daily",
]
