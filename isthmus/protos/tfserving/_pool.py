"""The descriptor pool the TF Serving stubs register in, apart from protobuf's default pool.

The real ``tensorflow`` package registers ``tensorflow/core/framework/tensor.proto`` (and the
message ``tensorflow.TensorProto``) in the default pool; our subsets carry the same file and
message names, so sharing that pool would fail to import next to TensorFlow. Messages built from
this pool serialize to the same wire bytes.
"""

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
POOL.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)  # GetModelMetadataResponse.metadata
