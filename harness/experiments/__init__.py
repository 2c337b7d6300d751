"""The experiments: data generated or read onto the device, the batched MLP engine, document 001's CNN sweep, devices, seeds and progress lines."""
