"""keras.applications classifiers with their own tops (weights=None, smallest legal inputs):
detected preprocessing, the model's own probabilities, exact CAM or Grad-CAM against a
hand-written GradientTape reference. Slow: each builds a full-size architecture."""

import keras
import numpy as np
import pytest
from oracles import assert_cam_identity, assert_matches_reference, gradcam_reference
from sample_images import pixels

import cam_keras
from cam_keras.models.contract import model_contract
from cam_keras.models.preprocessing import ApplicationPreprocessing

pytestmark = pytest.mark.slow

# constructor, input side, keras.applications module, detected preprocessing and why,
# feature layer for Grad-CAM (None: CAM head)
APPLICATIONS = [
    ("ResNet50", 32, "resnet50", ("resnet50", "keras.applications model 'resnet50'"), None),
    ("EfficientNetB0", 32, "efficientnet", ("none", "the model's own Rescaling layer"), None),
    ("InceptionV3", 75, "inception_v3", ("inception_v3", "keras.applications model 'inception_v3'"), None),
    ("ConvNeXtTiny", 64, "convnext", ("none", "the model's own Normalization layer"), None),  # GAP -> LN -> Dense
    ("VGG19", 64, "vgg19", ("vgg19", "keras.applications model 'vgg19'"), "block5_pool"),
]


@pytest.fixture(scope="module", params=APPLICATIONS, ids=[a[0] for a in APPLICATIONS])
def application(request):
    name, side, module, detected, feature_layer = request.param
    model = getattr(keras.applications, name)(weights=None, input_shape=(side, side, 3), classes=4)
    return model, side, module, detected, feature_layer


def test_application_is_explained_with_its_own_preprocessing(application):
    model, side, module, (preprocessing, reason), feature_layer = application
    contract = model_contract(model)
    assert contract.inputs.preprocessing.name == preprocessing
    assert contract.inputs.source.startswith(reason)
    assert contract.outputs.kind == "softmax"
    images = pixels(2, size=side, seed=20)
    preprocess = getattr(keras.applications, module).preprocess_input
    expected = model.predict(preprocess(images.copy()), verbose=0)
    explanation = cam_keras.explain(model, images, classes="all")
    np.testing.assert_allclose(explanation.probabilities, expected, rtol=1e-3, atol=1e-5)
    if feature_layer is None:
        assert explanation.method == "cam"
        assert_cam_identity(model, cam_keras.CAM(model, include_bias=True)(images, classes="all"), bias=False)
    else:
        assert explanation.method == "gradcam"
        gradcam = cam_keras.make_explainer(model, "gradcam", feature_layer)(images, classes=1)
        reference = gradcam_reference(model, model.get_layer(feature_layer).output, preprocess(images.copy()), 1)
        assert_matches_reference(gradcam.raw_maps[:, 0], reference)


def test_internal_or_external_preprocessing_gives_the_same_probabilities(caplog):
    resnet = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3)
    inputs = keras.Input((32, 32, 3))
    internal = keras.Model(inputs, resnet(ApplicationPreprocessing("resnet50")(inputs)), name="with_layer")
    renamed = keras.Model(resnet.inputs, resnet.outputs, name="my_classifier")  # family no longer visible
    images = pixels(2, seed=21)

    reference = cam_keras.explain(internal, images, classes="all").probabilities
    assert "none: raw pixels" in str(cam_keras.describe(internal))
    with caplog.at_level("WARNING"):
        assumed = cam_keras.explain(renamed, images, classes="all").probabilities
    assert "pass preprocess unit, symmetric" in caplog.text
    assert not np.allclose(assumed, reference, atol=1e-4)
    for model, choice in [(resnet, None), (resnet, "caffe"), (renamed, "resnet50"), (renamed, "caffe")]:
        probabilities = cam_keras.explain(model, images, classes="all", preprocess=choice).probabilities
        np.testing.assert_allclose(probabilities, reference, rtol=1e-4, atol=1e-6)
    assert "caffe" in str(cam_keras.describe(renamed, preprocess="caffe"))
