"""The reference ACGAN training loop, as the seed article wrote it (see ../shared/seed).

Kept unchanged on purpose, defects included (Sigmoid + BCELoss, Softmax before
CrossEntropyLoss, BatchNorm2d(C, 0.8), per-sample PIL transforms in a DataLoader, a host
sync for the accuracy every step): it is the baseline the benchmark measures ganzoo against.
The one addition: ``train`` returns the trained generator, for the quality benchmark.
Do not import it from ganzoo.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchvision import datasets, transforms

LATENT_DIM, N_CLASSES, IMG_SIZE, CHANNELS = 100, 10, 28, 1


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.label_emb = nn.Embedding(N_CLASSES, LATENT_DIM)
        self.init_size = IMG_SIZE // 4
        self.l1 = nn.Sequential(nn.Linear(LATENT_DIM, 128 * self.init_size**2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(128),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(64, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, CHANNELS, 3, stride=1, padding=1),
            nn.Tanh(),
        )

    def forward(self, noise, labels):
        gen_input = torch.mul(self.label_emb(labels), noise)
        out = self.l1(gen_input)
        out = out.view(out.shape[0], 128, self.init_size, self.init_size)
        return self.conv_blocks(out)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()

        def discriminator_block(in_filters, out_filters, bn=True):
            block = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True), nn.Dropout2d(0.25)]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        self.conv_blocks = nn.Sequential(
            *discriminator_block(CHANNELS, 16, bn=False),
            *discriminator_block(16, 32),
            *discriminator_block(32, 64),
            *discriminator_block(64, 128),
        )
        self.adv_layer = nn.Sequential(nn.Linear(512, 1), nn.Sigmoid())
        self.aux_layer = nn.Sequential(nn.Linear(512, N_CLASSES), nn.Softmax(dim=1))

    def forward(self, img):
        out = self.conv_blocks(img)
        out = out.view(out.shape[0], -1)
        return self.adv_layer(out), self.aux_layer(out)


def weights_init_normal(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm2d") != -1:
        torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
        torch.nn.init.constant_(m.bias.data, 0.0)


def train(data_root: str, steps: int, batch_size: int = 64, device: str = "cpu", on_step=None) -> Generator:
    """The article's loop for ``steps`` batches; ``on_step(i)`` is called after each one.
    Returns the trained generator (the article saves it; the quality benchmark evaluates it)."""
    adversarial_loss = torch.nn.BCELoss().to(device)
    auxiliary_loss = torch.nn.CrossEntropyLoss().to(device)
    generator, discriminator = Generator().to(device), Discriminator().to(device)
    generator.apply(weights_init_normal)
    discriminator.apply(weights_init_normal)
    dataloader = torch.utils.data.DataLoader(
        datasets.MNIST(
            data_root,
            train=True,
            download=False,
            transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]),
        ),
        batch_size=batch_size,
        shuffle=True,
    )
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    step = 0
    while step < steps:
        for imgs, labels in dataloader:
            n = imgs.shape[0]
            valid = torch.ones(n, 1, device=device)
            fake = torch.zeros(n, 1, device=device)
            real_imgs, labels = imgs.to(device), labels.to(device)

            z = torch.randn(n, LATENT_DIM, device=device)
            gen_labels = torch.randint(0, N_CLASSES, (n,), device=device)
            gen_imgs = generator(z, gen_labels)

            optimizer_D.zero_grad()
            real_pred, real_aux = discriminator(real_imgs)
            d_real_loss = (adversarial_loss(real_pred, valid) + auxiliary_loss(real_aux, labels)) / 2
            fake_pred, fake_aux = discriminator(gen_imgs.detach())
            d_fake_loss = (adversarial_loss(fake_pred, fake) + auxiliary_loss(fake_aux, gen_labels)) / 2
            d_loss = (d_real_loss + d_fake_loss) / 2
            pred = np.concatenate([real_aux.data.cpu().numpy(), fake_aux.data.cpu().numpy()], axis=0)
            gt = np.concatenate([labels.data.cpu().numpy(), gen_labels.data.cpu().numpy()], axis=0)
            d_acc = np.mean(np.argmax(pred, axis=1) == gt)  # noqa: F841 - the article prints it
            d_loss.backward()
            optimizer_D.step()

            optimizer_G.zero_grad()
            validity, pred_label = discriminator(gen_imgs)
            g_loss = 0.5 * (adversarial_loss(validity, valid) + auxiliary_loss(pred_label, gen_labels))
            g_loss.backward()
            optimizer_G.step()

            step += 1
            if on_step is not None:
                on_step(step)
            if step >= steps:
                return generator
