"""Shop the Look: a photo of a person in, the catalog's closest products for each garment they wear out.

shop.py        the pipeline: pose verdict, gender, garment boxes (YOLO), a filtered search per garment
pose.py        the full-shot / front-facing verdict from pose landmarks (pure geometry)
pose_model.py  MediaPipe pose and face detection (shipped in the mediapipe wheel, offline)
gender.py      whose clothing: a linear classifier over the encoder's person and face views
garments.py    street-photo masks -> one box per garment group (the detector's labels)
drawing.py     keypoints, boxes and garment masks drawn on the photo
"""
