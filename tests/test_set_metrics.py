"""KID, precision / recall, density / coverage and the classifier score on cases whose
answers are known from their papers' definitions."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from ganzoo.evaluate.set_metrics import (density_coverage, inception_style_score, kid, knn_radii, mmd2_unbiased,
                                         polynomial_kernel, precision_recall)


def test_mmd2_unbiased_matches_its_definition_term_by_term():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64) + 1
    k = lambda a, b: (float(a @ b) / 3 + 1) ** 3  # noqa: E731
    within_x = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(5), 2)) / (5 * 4)
    within_y = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(4), 2)) / (4 * 3)
    across = sum(k(a, b) for a in x for b in y) / (5 * 4)
    assert mmd2_unbiased(x, y) == pytest.approx(within_x + within_y - 2 * across, rel=1e-12)
    assert polynomial_kernel(x, y).shape == (5, 4)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(2000, 16, generator=g, dtype=torch.float64)
    same = torch.randn(2000, 16, generator=g, dtype=torch.float64)
    same_kid = kid(same, real, subsets=20, subset_size=500)
    shifted_kid = kid(same + 0.5, real, subsets=20, subset_size=500)
    assert abs(same_kid["value"]) < 3 * same_kid["std"] + 1e-3  # unbiased: centred on 0
    assert shifted_kid["value"] > 10 * abs(same_kid["value"]) and shifted_kid["value"] > 0.05
    assert kid(same, real, subsets=3, subset_size=100)["subset_size"] == 100
    assert kid(same[:1], real)["value"] is None


def test_knn_radius_leaves_the_point_itself_out():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_precision_and_recall_tell_fidelity_from_diversity():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(600, 8, generator=g, dtype=torch.float64)
    alike = precision_recall(torch.randn(600, 8, generator=g, dtype=torch.float64), real)
    assert alike["precision"] > 0.7 and alike["recall"] > 0.7
    collapsed = precision_recall(real[:1].repeat(600, 1) + 1e-3 * torch.randn(600, 8, generator=g, dtype=torch.float64),
                                 real)
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05  # faithful, not diverse
    far = precision_recall(real + 100, real)
    assert far["precision"] == 0.0 and far["recall"] == 0.0


def test_a_generator_covering_one_mode_of_two_has_full_precision_and_half_recall():
    g = torch.Generator().manual_seed(4)
    modes = torch.zeros(2, 8, dtype=torch.float64)
    modes[:, 0] = torch.tensor([-10.0, 10.0])
    real = torch.cat([modes[k] + torch.randn(500, 8, generator=g, dtype=torch.float64) for k in (0, 1)])
    one_mode = modes[1] + torch.randn(1000, 8, generator=g, dtype=torch.float64)
    result = precision_recall(one_mode, real)  # Kynkäänniemi et al.'s mode-dropping case
    # precision stays high (its real mode holds half the real points, so its balls are a little tighter)
    assert result["precision"] > 0.8 and 0.4 < result["recall"] < 0.6, result  # here 0.866 and 0.451


def test_density_and_coverage_on_a_worked_case():
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]], dtype=torch.float64)
    # k = 1: every real ball has radius 1 (its nearest real neighbour)
    fake = torch.tensor([[0.5], [0.5], [50.0], [50.0], [50.0], [50.0]], dtype=torch.float64)  # as many as real
    result = density_coverage(fake, real, k=1)
    # 0.5 lies in the balls of 0 and 1 (2 each), 50 in none: density = (2 + 2 + 0 + 0 + 0 + 0) / (1 * 6)
    assert result["density"] == pytest.approx(4 / 6)
    assert result["coverage"] == pytest.approx(2 / 6)  # the balls of 0 and 1 hold a fake
    assert result["images_per_set"] == 6
    larger = density_coverage(torch.cat([fake, fake]), real, k=1)  # cut to the real set's size first
    assert larger["images_per_set"] == 6
    assert density_coverage(real, real, k=2)["coverage"] == 1.0


def test_classifier_score_runs_from_one_to_the_number_of_classes():
    confident_all_classes = torch.eye(10).repeat(100, 1)
    assert inception_style_score(confident_all_classes, splits=1)["value"] == pytest.approx(10, rel=1e-6)
    one_class = torch.zeros(1000, 10)
    one_class[:, 3] = 1
    assert inception_style_score(one_class)["value"] == pytest.approx(1, rel=1e-6)
    unsure = torch.full((1000, 10), 0.1)
    assert inception_style_score(unsure)["value"] == pytest.approx(1, rel=1e-6)
    # in class order, as an evaluation makes them: the splits are shuffled, so each still sees all classes
    ordered = torch.eye(10).repeat_interleave(100, dim=0)
    result = inception_style_score(ordered)
    assert result["value"] > 9 and result["splits"] == 10 and math.isfinite(result["std"])


def test_a_constant_generator_is_scored_without_warnings():
    """A collapsed generator (every image alike) gets numbers, not lines of scipy warnings."""
    import warnings

    from ganzoo.evaluate.metrics import frechet_between

    constant = torch.ones(300, 32, dtype=torch.float64)
    real = torch.randn(1000, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64).abs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fid = frechet_between(constant, real)
        pr = precision_recall(constant, real)
        kid(constant, real, subsets=3, subset_size=100)
    assert caught == [] and fid > 0 and pr["recall"] == 0.0


def test_cas_of_the_real_training_data_is_the_real_data_classifiers_accuracy(tmp_path, monkeypatch):
    """CAS trains the judge's architecture with the judge's recipe on the given images: on
    the real training split itself it is the judge, so its accuracy is the judge's."""
    from conftest import write_mnist_like
    from ganzoo.evaluate.builtin_metrics import classification_accuracy_score
    from ganzoo.evaluate.classifier import classify
    from ganzoo.evaluate.metric_api import MetricInputs
    from ganzoo.evaluate.run import Reference

    monkeypatch.setenv("GANZOO_JUDGE_STEPS", "60")
    data = write_mnist_like(tmp_path / "data", per_class=12)
    reference = Reference({"dataset": "mnist", "channels": 1, "image_size": 28}, data, torch.device("cpu"), False)

    def inputs(images, labels):
        predicted, features = classify(reference.judge.model, images, reference.device)
        return MetricInputs(images, labels, features, predicted, reference.test.images, reference.test.labels,
                            reference.real.features, reference.class_names, reference.device, reference)

    real = classification_accuracy_score(inputs(reference.train.images, reference.train.labels))
    assert real["value"] == pytest.approx(reference.judge.test_accuracy, abs=1e-6)
    assert real["real_data_accuracy"] == reference.judge.test_accuracy and real["steps"] == 60
    assert real["ratio_to_real"] == pytest.approx(1.0, abs=1e-6)
    # labels that say nothing about the images: the classifier learns nothing of the real classes
    shuffled = reference.train.labels[torch.randperm(len(reference.train.labels), generator=torch.Generator().manual_seed(1))]
    noise = classification_accuracy_score(inputs(reference.train.images, shuffled))
    assert noise["value"] < 0.5 * real["value"]


# -- agreement with the reference implementations, on the same features --------------------


def _torch_fidelity():
    return pytest.importorskip("torch_fidelity", reason="torch-fidelity (the [test] extra) is not installed")


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_kid_agrees_with_torch_fidelity_on_the_same_features():
    _torch_fidelity()
    from torch_fidelity.metric_kid import kid_features_to_metric

    fake, real = _features(300, 16, 1, 0.3), _features(300, 16, 2)
    # subsets as large as the sets: every subset is the whole set, so no random draw differs
    theirs = kid_features_to_metric(fake, real, kid_subsets=3, kid_subset_size=300, verbose=False, rng_seed=0,
                                    kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                    kid_kernel_poly_coef0=1)
    ours = kid(fake, real, subsets=3, subset_size=300)
    assert ours["value"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-9, abs=1e-12)


def test_precision_recall_agree_with_torch_fidelity_on_the_same_features():
    _torch_fidelity()
    from torch_fidelity.metric_prc import prc_features_to_metric

    fake, real = _features(400, 8, 3, 0.5), _features(400, 8, 4)
    theirs = prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False,
                                    verbose=False)
    ours = precision_recall(fake, real, k=3)
    # torch-fidelity averages in float32: the same count of images, to float32's precision
    assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-6)
    assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-6)


def test_inception_score_agrees_with_torch_fidelity_on_the_same_logits():
    _torch_fidelity()
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = _features(1000, 20, 5) * 3
    theirs = isc_features_to_metric(logits, splits=10, shuffle=False)
    ours = inception_style_score(logits.softmax(1), splits=10, shuffle=False)
    assert ours["value"] == pytest.approx(theirs["inception_score_mean"], rel=1e-9)
    assert ours["std"] == pytest.approx(theirs["inception_score_std"], rel=1e-6)


def test_fid_agrees_with_torch_fidelity_on_the_same_statistics():
    _torch_fidelity()
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    from ganzoo.evaluate.metrics import feature_statistics, frechet_distance

    a, b = _features(500, 12, 6), _features(500, 12, 7, 0.2) * 1.3
    (mu1, sigma1), (mu2, sigma2) = feature_statistics(a), feature_statistics(b)
    theirs = fid_statistics_to_metric({"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, verbose=False)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)


def test_density_and_coverage_agree_with_a_direct_numpy_implementation():
    """Naeem et al. 2020's formulas written out with NumPy (their reference code's form)."""
    import numpy as np

    fake, real = _features(200, 6, 8, 0.4), _features(200, 6, 9)
    f, r, k = fake.numpy(), real.numpy(), 5
    real_real = np.linalg.norm(r[:, None] - r[None], axis=-1)
    radii = np.sort(real_real, axis=1)[:, k]  # column 0 is the point itself
    real_fake = np.linalg.norm(r[:, None] - f[None], axis=-1)
    density = (1 / k) * (real_fake < radii[:, None]).sum(0).mean()
    coverage = (real_fake.min(1) < radii).mean()
    ours = density_coverage(fake, real, k=k)
    assert ours["density"] == pytest.approx(density, abs=1e-12)
    assert ours["coverage"] == pytest.approx(coverage, abs=1e-12)
