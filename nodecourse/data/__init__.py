"""Data sets of the course: toy problems, real weather and synthetic epidemics.

Everything here is generated from a seed or read from an installed package, so
nothing is downloaded at run time. One module per data set; the public functions
are re-exported here, so notebooks write ``nodecourse.data.NAME``.
"""

from nodecourse.data.toy import disc_annulus_2d, reflection_1d

__all__: list[str] = ["disc_annulus_2d", "reflection_1d"]
