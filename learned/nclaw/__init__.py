"""NCLaw: neural constitutive laws learned through the differentiable MLS-MPM (Ma et al., ICML 2023).

    from learned.nclaw import ElasticNet, PlasticNet
    elastic, plastic = ElasticNet(dim=2), PlasticNet(dim=2)
    tau = elastic(F)            # (N, d, d) Kirchhoff stress, tau(QF) = Q tau(F) Q^T, tau(I) = 0
    F_new = plastic(F_trial)    # plastic(QF) = Q plastic(F), plastic(I) = I
"""
from learned.nclaw.coupling import ConstitutiveLaw, NeuralMPM, initial_state, warm_start  # noqa: F401
from learned.nclaw.networks import (  # noqa: F401
                                    ElasticNet,
                                    PlasticNet,
                                    SymmetricInvariantMLP,
                                    determinant,
                                    invariant_features,
                                    polar_rotation,
                                    singular_values,
)
from learned.nclaw.replay import build_solver, scene_spec, simulate_trajectory  # noqa: F401
from learned.nclaw.sysid import PARAMETERS, MaterialParameters, identify  # noqa: F401
from learned.nclaw.training import motion_loss, teacher_interval  # noqa: F401
