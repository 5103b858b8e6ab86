// aemon's LSTM inference op for the tensorflow backend (scripts/lstm-op.sh builds it; docs/performance.md#aemons-lstm-op).
//
// TensorFlow's BlockLSTM, which the fused kernel otherwise scores with, computes [x_t, h_{t-1}] · W
// at every step and writes seven [time, batch, units] outputs. For an autoencoder's scoring both
// are waste: the decoder's input is the same encoding at every step, so its input projection can
// be computed once, and only h is read (the encoder's only at the last step). This op does that:
// one GEMM for every step's input projection (once for a repeated input), then per step one GEMM
// with the recurrent kernel and the gates in one pass. Weights are tfjs-layers' own (gate order
// i, f, c, o; sigmoid gates, tanh activation), so no concatenation or reordering is needed.
//
// The library is also a Node-API module: process.dlopen keeps it loaded, and loading it runs
// TensorFlow's static op and kernel registrations in the process that already has tfjs-node's
// libtensorflow, where the op then runs by name like any other.
#include <node_api.h>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"

namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor>;
using Map = Eigen::Map<RowMajor>;

REGISTER_OP("AemonLstmInference")
    .Input("x: float")          // [time, batch, in] (time-major), or [batch, in] with `repeat`
    .Input("kernel: float")     // [in, 4·units]
    .Input("recurrent: float")  // [units, 4·units]
    .Input("bias: float")       // [4·units]
    .Attr("steps: int = 0")     // the number of steps when `repeat`
    .Attr("repeat: bool = false")
    .Attr("last_only: bool = false")
    .Output("h: float");  // [time, batch, units], or [batch, units] with `last_only`

// σ(x) = ½·tanh(½x) + ½: Eigen vectorises tanh.
template <typename T>
auto Sigmoid(const T& x) {
  return (x * 0.5f).tanh() * 0.5f + 0.5f;
}

class AemonLstmInference : public OpKernel {
 public:
  explicit AemonLstmInference(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("steps", &steps_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("repeat", &repeat_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("last_only", &last_only_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& kernel = ctx->input(1);
    const Tensor& recurrent = ctx->input(2);
    const Tensor& bias = ctx->input(3);
    OP_REQUIRES(ctx, kernel.dims() == 2 && kernel.dim_size(1) % 4 == 0, tensorflow::errors::InvalidArgument("kernel must be [in, 4·units]"));
    const int64_t in = kernel.dim_size(0);
    const int64_t gates = kernel.dim_size(1);
    const int64_t units = gates / 4;
    OP_REQUIRES(ctx, recurrent.dims() == 2 && recurrent.dim_size(0) == units && recurrent.dim_size(1) == gates,
                tensorflow::errors::InvalidArgument("recurrent must be [units, 4·units]"));
    OP_REQUIRES(ctx, bias.dims() == 1 && bias.dim_size(0) == gates, tensorflow::errors::InvalidArgument("bias must be [4·units]"));
    OP_REQUIRES(ctx, x.dims() == (repeat_ ? 2 : 3) && x.dim_size(x.dims() - 1) == in,
                tensorflow::errors::InvalidArgument(repeat_ ? "x must be [batch, in]" : "x must be [time, batch, in]"));
    OP_REQUIRES(ctx, !repeat_ || steps_ > 0, tensorflow::errors::InvalidArgument("repeat needs steps > 0"));
    const int64_t time = repeat_ ? steps_ : x.dim_size(0);
    const int64_t batch = repeat_ ? x.dim_size(0) : x.dim_size(1);

    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, last_only_ ? TensorShape({batch, units}) : TensorShape({time, batch, units}), &out));
    if (time == 0 || batch == 0) return;

    const ConstMap k(kernel.flat<float>().data(), in, gates);
    const ConstMap r(recurrent.flat<float>().data(), units, gates);
    const Eigen::Map<const Eigen::RowVectorXf> b(bias.flat<float>().data(), gates);
    // Every step's input projection in one GEMM (one step's when the input repeats), bias added.
    RowMajor projected = ConstMap(x.flat<float>().data(), repeat_ ? batch : time * batch, in) * k;
    projected.rowwise() += b;

    RowMajor z(batch, gates);
    RowMajor h = RowMajor::Zero(batch, units);
    RowMajor c = RowMajor::Zero(batch, units);
    float* hs = out->flat<float>().data();
    for (int64_t t = 0; t < time; t++) {
      z.noalias() = h * r;
      z += repeat_ ? projected : projected.middleRows(t * batch, batch);
      const auto a = z.array();
      c.array() = Sigmoid(a.middleCols(units, units)) * c.array() + Sigmoid(a.leftCols(units)) * a.middleCols(2 * units, units).tanh();
      h.array() = Sigmoid(a.rightCols(units)) * c.array().tanh();
      if (!last_only_) Map(hs + t * batch * units, batch, units) = h;
    }
    if (last_only_) Map(hs, batch, units) = h;
  }

 private:
  tensorflow::int64 steps_ = 0;
  bool repeat_ = false;
  bool last_only_ = false;
};

REGISTER_KERNEL_BUILDER(Name("AemonLstmInference").Device(tensorflow::DEVICE_CPU), AemonLstmInference);

napi_value Init(napi_env, napi_value exports) { return exports; }

}  // namespace

NAPI_MODULE(aemon_lstm_op, Init)
