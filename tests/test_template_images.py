"""The depth family's fast task: images of shifted colour templates (harness.experiments.data.shifted_templates)."""
from __future__ import annotations

import torch

from harness.experiments.data import shifted_templates


def test_without_noise_each_image_is_its_class_template_circularly_shifted():
    images, labels, templates = shifted_templates(200, 10, 8, torch.Generator().manual_seed(0), noise=0.0)
    for image, label in zip(images, labels):
        shifts = [torch.roll(templates[label], (dy, dx), (1, 2)) for dy in range(8) for dx in range(8)]
        assert any(torch.equal(image, shifted) for shifted in shifts)


def test_classes_are_balanced_and_templates_have_unit_pixel_variance_and_low_frequencies():
    _, labels, templates = shifted_templates(1000, 10, 8, torch.Generator().manual_seed(1), frequencies=2)
    assert torch.bincount(labels).tolist() == [100] * 10
    torch.testing.assert_close(templates.std((1, 2, 3)), torch.ones(10))
    spectrum = torch.fft.fft2(templates).abs()
    k = torch.fft.fftfreq(8, 1 / 8).abs()
    high = (k[:, None] > 2) | (k[None, :] > 2)
    assert spectrum[..., high].max() < 1e-4 * spectrum.max()


def test_more_images_of_the_same_classes_reuse_the_templates():
    generator = torch.Generator().manual_seed(2)
    _, _, templates = shifted_templates(50, 10, 8, generator)
    images, labels, again = shifted_templates(50, 10, 8, generator, templates, noise=0.0)
    assert again is templates
    assert all(any(torch.equal(image, torch.roll(templates[label], (dy, dx), (1, 2)))
                   for dy in range(8) for dx in range(8)) for image, label in zip(images, labels))
