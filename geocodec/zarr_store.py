"""Old import path of the cube's store helpers; they live in ``geocodec.cube.store`` now."""

from geocodec.cube.store import (ARRAY, array_dims, codec_settings, delete_chunk, list_chunk_keys,  # noqa: F401
                                 looks_like_geocodec_store, open_array, open_store, read_chunk,
                                 remove_partial_files, stored_bytes, write_chunk)
