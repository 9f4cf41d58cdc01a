"""ConvNet encoder of Tschannen et al. (2020), Sec. 3.3 and Figure 4.

"two convolution layers (with a 5 x 5 kernel, stride of 2, ReLU activations, and 64 and
128 channels, respectively; 220k parameters), followed by spatial average pooling and a
fully connected layer. Before the average pooling operation we apply layer
normalization". On a flat MNIST top half (392 = 14 x 28 pixels, row-major):

    [B, 392] -> reshape [B, 14, 28, 1]
             -> Conv2D(64, 5x5, stride 2, "same", ReLU)    [B, 7, 14, 64]
             -> Conv2D(128, 5x5, stride 2, "same", ReLU)   [B, 4, 7, 128]
             -> LayerNorm over (H, W, C), per-channel scale and bias
             -> global average pooling                    [B, 128]
             -> Dense(100)                                 [B, 100]

1,664 + 204,928 + 256 + 12,900 = 219,748 parameters. "same" padding and the output
width 100 come from the authors' notebook. Its layer norm normalises each example over
all of (H, W, C) with a scale and a bias per channel; that is Keras's
``GroupNormalization(groups=1)``. (The notebook divides by std + 1e-6 where Keras divides
by sqrt(var + 1e-6): the same up to ~1e-6 relative.) Layer norm rather than batch norm
keeps every example's representation independent of the rest of the batch, which the
contrastive bounds need.
"""

import math

import keras

from tfmi.encoders.base import FlatInputEncoder

__all__ = ["ConvNet"]


@keras.saving.register_keras_serializable(package="tfmi")
class ConvNet(FlatInputEncoder):
    """Two strided convolutions, layer norm, average pooling and a linear layer.

    Args:
      image_shape: (height, width, channels) of one flat example, reshaped row-major;
        (14, 28, 1) for an MNIST half. ``input_dim`` is their product.
      channels: channels of the first convolution (the second has twice as many); 64.
      kernel_size: convolution kernel size; 5.
      output_dim: representation size; 100.
      activation: convolution activation; ReLU.
      epsilon: layer-norm epsilon.
    """

    def __init__(
        self,
        image_shape=(14, 28, 1),
        channels=64,
        kernel_size=5,
        output_dim=100,
        activation="relu",
        epsilon=1e-6,
        **kwargs,
    ):
        image_shape = tuple(int(size) for size in image_shape)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(
                f"ConvNet: image_shape must be (height, width, channels) of positive sizes, "
                f"got {image_shape}."
            )
        if channels < 1 or kernel_size < 1 or output_dim < 1:
            raise ValueError(
                f"ConvNet: channels, kernel_size and output_dim must be positive, got "
                f"{channels}, {kernel_size}, {output_dim}."
            )
        inputs = keras.Input((math.prod(image_shape),), name="x")
        h = keras.layers.Reshape(image_shape, name="to_image")(inputs)
        for i, width in enumerate((channels, 2 * channels)):
            h = keras.layers.Conv2D(
                width, kernel_size, strides=2, padding="same", activation=activation, name=f"conv_{i}"
            )(h)
        h = keras.layers.GroupNormalization(groups=1, epsilon=epsilon, name="layer_norm")(h)
        h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
        outputs = keras.layers.Dense(output_dim, name="output")(h)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.image_shape = image_shape
        self.channels = int(channels)
        self.kernel_size = int(kernel_size)
        self.activation = activation
        self.epsilon = float(epsilon)

    def get_config(self):
        return {
            **self._base_config(),
            "image_shape": self.image_shape,
            "channels": self.channels,
            "kernel_size": self.kernel_size,
            "output_dim": self.output_dim,
            "activation": self.activation,
            "epsilon": self.epsilon,
        }
