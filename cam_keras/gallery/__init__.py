"""Gallery room: one static HTML page over thousands of maps (``gallery.html``), its data in
``gallery-data.js`` beside it. :mod:`~cam_keras.gallery.page` writes both from
:class:`~cam_keras.gallery.page.GalleryItem` records; the heatmap jobs (:mod:`cam_keras.jobs.gallery`)
and evaluations (:mod:`cam_keras.evaluate.gallery`) turn their own tables into such records,
and their render workers draw the thumbnails (:mod:`cam_keras.render.thumbnails`)."""
