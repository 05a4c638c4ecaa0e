"""StyleLens' own encoder: a small image tower trained here and a projection of the bundled MiniLM.

    image  -> narrow ResNet-18 -> projection -> D-dim embedding  (+ article/colour/gender heads)
    text   -> MiniLM (frozen, 384) -> MLP projection -> D-dim embedding

Both land in one space (trained with an image<->text contrastive loss), and the heads are cosine
classifiers on the image embedding, so products of one kind sit together in it. A checkpoint is one
file holding the config that built the model, its label names, weights and the record of how it was
trained (data, split, command, metrics); `load_checkpoint` never asks for a dimension.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from core.checkpoints import load_payload, save_payload
from core.encoders.base import l2_normalize
from core.encoders.minilm import MiniLM

FORMAT = "stylelens-encoder/1"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TowerConfig:
    image_size: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256)
    embed_dim: int = 256
    text_dim: int = 384  # MiniLM's sentence embedding size
    text_hidden: int = 512
    classifier_scale: float = 16.0
    caption_weight: float = 0.0  # default blend: catalog vector = image + caption_weight * caption, renormalised


@dataclass(frozen=True)
class Labels:
    article_types: tuple[str, ...]
    colours: tuple[str, ...]
    genders: tuple[str, ...]


@dataclass(frozen=True)
class Prediction:
    """What the heads see in one image: best label and its probability for each attribute."""

    article_type: str
    article_type_score: float
    colour: str
    colour_score: float
    gender: str
    gender_score: float
    top_article_types: tuple[tuple[str, float], ...] = field(default=())


class CosineClassifier(nn.Module):
    """Logits = scale * cos(embedding, class weight): classes become directions in the embedding space."""

    def __init__(self, dim: int, classes: int, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, dim) * 0.02)
        self.scale = scale

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:  # [B, D] unit -> [B, C]
        return self.scale * embedding @ F.normalize(self.weight, dim=1).T


class ImageTower(nn.Module):
    def __init__(self, config: TowerConfig, labels: Labels):
        super().__init__()
        self.backbone = narrow_resnet18(config.widths)
        self.project = projection(config.widths[-1], config.embed_dim)
        self.article_head = CosineClassifier(config.embed_dim, len(labels.article_types), config.classifier_scale)
        self.colour_head = CosineClassifier(config.embed_dim, len(labels.colours), config.classifier_scale)
        self.gender_head = CosineClassifier(config.embed_dim, len(labels.genders), config.classifier_scale)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # [B, 3, S, S] -> [B, D] unit
        return F.normalize(self.project(self.backbone(pixels)), dim=1)

    def feature_map(self, pixels: torch.Tensor, layer: int = 4) -> torch.Tensor:
        """[B, 3, S, S] -> the output of residual stage `layer`: [B, C, S/32, S/32] for 4, [B, C/2, S/16, S/16] for 3."""
        net = self.backbone
        x = net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(pixels))))))
        x = net.layer3(x)
        return x if layer == 3 else net.layer4(x)

    def grid_and_embedding(self, pixels: torch.Tensor, layer: int, embedded: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The stage-`layer` grid of every image and the embedding [embedded, D] of the first `embedded`,
        sharing the backbone's pass (import reads attributes and embeds each photo at once)."""
        grid = self.feature_map(pixels, 3)
        last = self.backbone.layer4(grid[:embedded] if layer == 3 else grid)
        embedding = F.normalize(self.project(last[:embedded].mean(dim=(2, 3))), dim=1)
        return (grid if layer == 3 else last), embedding

    def tokens_and_embedding(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Spatial tokens [B, (S/32)^2, C] (for composers) and the embedding [B, D], in one pass."""
        grid = self.feature_map(pixels)
        embedding = F.normalize(self.project(grid.mean(dim=(2, 3))), dim=1)
        return grid.flatten(2).transpose(1, 2), embedding

    def heads(self, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "article": self.article_head(embedding),
            "colour": self.colour_head(embedding),
            "gender": self.gender_head(embedding),
        }


class TextProjection(nn.Module):
    def __init__(self, config: TowerConfig):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(config.text_dim, config.text_hidden), nn.GELU(), nn.Linear(config.text_hidden, config.embed_dim)
        )

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:  # [B, 384] -> [B, D] unit
        return F.normalize(self.mlp(sentence), dim=1)


class StyleLensModel(nn.Module):
    def __init__(self, config: TowerConfig, labels: Labels):
        super().__init__()
        self.config, self.labels = config, labels
        self.image = ImageTower(config, labels)
        self.text = TextProjection(config)
        self.log_temperature = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))


def projection(width: int, embed_dim: int) -> nn.Sequential:
    """Backbone features -> embedding (before normalising): the image tower's head."""
    return nn.Sequential(nn.Linear(width, embed_dim * 2), nn.GELU(), nn.Linear(embed_dim * 2, embed_dim))


def narrow_resnet18(widths: Sequence[int]) -> nn.Module:
    """ResNet-18 with thinner layers (a quarter of the compute at half width), no classifier."""
    net = ResNet(BasicBlock, [2, 2, 2, 2])
    net.inplanes = widths[0]
    net.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(widths[0])
    net.layer1 = net._make_layer(BasicBlock, widths[0], 2)
    net.layer2 = net._make_layer(BasicBlock, widths[1], 2, stride=2)
    net.layer3 = net._make_layer(BasicBlock, widths[2], 2, stride=2)
    net.layer4 = net._make_layer(BasicBlock, widths[3], 2, stride=2)
    net.fc = nn.Identity()
    return net


def preprocess(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """Images -> normalised float tensor [N, 3, size, size]. Squashed to a square like the catalog photos."""
    arrays = [np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)) for image in images]
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
    return normalize_pixels(pixels)


def normalize_pixels(pixels: torch.Tensor) -> torch.Tensor:  # [N, 3, S, S] in 0..1
    mean = torch.tensor(MEAN, dtype=pixels.dtype).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=pixels.dtype).view(1, 3, 1, 1)
    return (pixels - mean) / std


# ---- checkpoints --------------------------------------------------------------------------
def save_checkpoint(model: StyleLensModel, path: Path, record: dict) -> None:
    """Weights + the config and labels that built them + how they were made (data, command, metrics)."""
    save_payload(path, FORMAT, model, record, config=asdict(model.config), labels=asdict(model.labels))


def load_checkpoint(path: Path) -> tuple[StyleLensModel, dict]:
    payload = load_payload(path, FORMAT, "encoder")
    config = TowerConfig(**{**payload["config"], "widths": tuple(payload["config"]["widths"])})
    labels = Labels(**{k: tuple(v) for k, v in payload["labels"].items()})
    model = StyleLensModel(config, labels)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload.get("record", {})


def file_digest(path: Path, length: int = 8) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


# ---- the encoder the app uses -------------------------------------------------------------
class StyleLensEncoder:
    """The `Encoder` contract (see base.py) over a StyleLens checkpoint, plus its attribute heads."""

    batch_size = 64

    def __init__(
        self, checkpoint: Path, name: str, text_encoder: MiniLM | None = None, caption_weight: float | None = None
    ):
        self.model, self.record = load_checkpoint(Path(checkpoint))
        self.text_encoder = text_encoder or MiniLM()
        self.name = name
        self.dim = self.model.config.embed_dim
        # Catalog vectors may blend in the product's caption; vectors made with another blend never mix.
        self.caption_weight = self.model.config.caption_weight if caption_weight is None else float(caption_weight)
        blend = f"+caption{self.caption_weight:g}" if self.caption_weight > 0 else ""
        # the weights' own hash: a retrained checkpoint never passes for the vectors of an older one
        self.model_key = f"{name}@{self.record.get('version', '0')}-{file_digest(Path(checkpoint))}{blend}"

    @property
    def labels(self) -> Labels:
        return self.model.labels

    def embed_catalog(self, images: Sequence[Image.Image], captions: Sequence[str]) -> np.ndarray:
        return self.blend_captions(self.embed_images(images), captions)

    def blend_captions(self, image_part: np.ndarray, captions: Sequence[str]) -> np.ndarray:
        """Catalog vectors from the images' embeddings [N, D] and the products' captions."""
        if self.caption_weight <= 0 or not len(image_part):
            return image_part
        return l2_normalize(image_part + self.caption_weight * self.embed_texts(captions))

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        chunks = [
            self.model.image(preprocess(images[i : i + self.batch_size], self.model.config.image_size)).numpy()
            for i in range(0, len(images), self.batch_size)
        ]
        return l2_normalize(np.concatenate(chunks)) if chunks else np.zeros((0, self.dim), np.float32)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        sentences = torch.from_numpy(self.text_encoder.embed(list(texts)))  # [N, 384]
        return l2_normalize(self.model.text(sentences).numpy())

    @torch.inference_mode()
    def image_tokens(self, images: Sequence[Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
        """Spatial tokens [N, 16, C] and unit embeddings [N, D] of the images (for composers)."""
        return self.model.image.tokens_and_embedding(preprocess(images, self.model.config.image_size))

    @torch.inference_mode()
    def image_grid(self, images: Sequence[Image.Image], layer: int = 4) -> torch.Tensor:
        """The feature grid of residual stage `layer` as tokens [N, cells, C] (layer 3: 8x8 at 128 px)."""
        pixels = preprocess(images, self.model.config.image_size)
        return self.model.image.feature_map(pixels, layer).flatten(2).transpose(1, 2)

    @torch.inference_mode()
    def image_grid_and_embeddings(
        self, images: Sequence[Image.Image], layer: int, embedded: int
    ) -> tuple[torch.Tensor, np.ndarray]:
        """`image_grid` of every image and the unit embeddings [embedded, D] of the first `embedded` (as
        `embed_images` makes them), from one backbone pass."""
        pixels = preprocess(images, self.model.config.image_size)
        grid, embedding = self.model.image.grid_and_embedding(pixels, layer, embedded)
        return grid.flatten(2).transpose(1, 2), l2_normalize(embedding.numpy())

    def text_tokens(self, texts: Sequence[str], max_tokens: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text_encoder.tokens(texts, max_tokens)

    @torch.inference_mode()
    def classify(self, images: Sequence[Image.Image], top: int = 3) -> list[Prediction]:
        """Article type, colour and gender of each image, with probabilities."""
        if not images:
            return []
        return self.classify_embeddings(self.embed_images(images), top)

    @torch.inference_mode()
    def classify_embeddings(self, embeddings: np.ndarray, top: int = 3) -> list[Prediction]:
        """What the heads read from image embeddings ([N, D] unit) made by this encoder."""
        probabilities = self._probabilities(embeddings)
        return [self._prediction(probabilities, row, top) for row in range(len(embeddings))]

    @torch.inference_mode()
    def article_distributions(self, embeddings: np.ndarray) -> np.ndarray:
        """P(article type) per embedding: float32 [N, len(labels.article_types)]."""
        return self._probabilities(embeddings)["article"].numpy()

    def _probabilities(self, embeddings: np.ndarray) -> dict[str, torch.Tensor]:
        heads = self.model.image.heads(torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32)))
        return {k: v.softmax(dim=1) for k, v in heads.items()}

    def _prediction(self, probabilities: dict[str, torch.Tensor], row: int, top: int) -> Prediction:
        labels = self.model.labels
        article = probabilities["article"][row]
        colour = probabilities["colour"][row]
        gender = probabilities["gender"][row]
        best = article.topk(min(top, len(article)))
        return Prediction(
            article_type=labels.article_types[int(article.argmax())],
            article_type_score=float(article.max()),
            colour=labels.colours[int(colour.argmax())],
            colour_score=float(colour.max()),
            gender=labels.genders[int(gender.argmax())],
            gender_score=float(gender.max()),
            top_article_types=tuple(
                (labels.article_types[int(i)], float(p)) for p, i in zip(best.values, best.indices)
            ),
        )
