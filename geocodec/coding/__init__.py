"""The numpy codec's parts, one job each: ``prepare`` (validate and normalise inputs), ``encode``
(pairs → chunks), ``decode`` (chunks → latents → arrays). ``geocodec.codec`` is their public face."""
