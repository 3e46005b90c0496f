"""Start-up: ``import dp_plugin`` and ``dp-simulate --help`` stay light; configs still build;
only the known mmcv-lite / mmseg start-up warnings are silenced.

Each check runs in a fresh interpreter: what a process imported before is the behaviour.
"""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.run([sys.executable, *args, '-c', textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=600)


def test_light_import_then_config_with_custom_imports_builds_every_scope(tmp_path):
    """``import dp_plugin`` loads neither torch nor mmseg; a config with
    ``custom_imports=['dp_plugin']`` and ``default_scope='dp_plugin'`` still finds
    dp_plugin's and mmseg's models and transforms (lazy registration)."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(textwrap.dedent("""
        custom_imports = dict(imports=['dp_plugin'], allow_failed_imports=False)
        default_scope = 'dp_plugin'
        model = dict(type='DiffusionPrint', depth=2, width=4, out_channels=2)
        mmseg_model = dict(type='SegDataPreProcessor')
        pipeline = [dict(type='RandomJPEGCompression', quality=(90, 100)),
                    dict(type='PackSegInputs')]
    """))
    res = _python(f"""
        import sys
        import dp_plugin
        heavy = sorted(m for m in ('torch', 'mmseg', 'mmengine', 'mmcv', 'cv2')
                       if m in sys.modules)
        assert not heavy, f'import dp_plugin imported {{heavy}}'
        assert dp_plugin.__version__
        from mmengine.config import Config
        from mmengine.registry import MODELS, TRANSFORMS, init_default_scope
        cfg = Config.fromfile({str(cfg)!r})
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        assert type(model).__module__ == 'dp_plugin.modalities.diffusionprint', type(model)
        pre = MODELS.build(cfg.mmseg_model)
        assert type(pre).__module__.startswith('mmseg.'), type(pre)
        steps = [TRANSFORMS.build(t) for t in cfg.pipeline]
        assert [type(s).__name__ for s in steps] == ['RandomJPEGCompression', 'PackSegInputs']
        from dp_plugin import build_modality
        assert build_modality(dict(type='SRM')).out_channels == 3
        assert dp_plugin.models.LiteBaseline.__name__ == 'LiteBaseline'
        try:
            dp_plugin.no_such_name
        except AttributeError:
            print('OK')
    """)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith('OK')


def test_simulate_help_does_not_import_torch():
    """``dp-simulate --help`` parses its arguments (generator choices included) without
    torch, so it answers at once."""
    res = _python("""
        import sys
        from dp_plugin.simulate.cli import main
        try:
            main(['--help'])
        except SystemExit as exc:
            assert exc.code == 0
        assert 'torch' not in sys.modules, 'dp-simulate --help imported torch'
    """)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'simps' in res.stdout and '--out' in res.stdout


def test_known_startup_warnings_filtered_precisely():
    """Building an mmseg two-class model after ``import dp_plugin`` prints none of the
    known start-up warnings (mmcv-lite's MultiScaleDeformableAttention, mmseg's
    ``build_loss`` deprecation and binary-head hint), even under ``-W always``, while
    other warnings -- also ones from those modules, or those messages from other
    modules -- still print."""
    res = _python("""
        import warnings
        import dp_plugin
        from mmengine.registry import MODELS, init_default_scope
        init_default_scope('dp_plugin')
        MODELS.build(dict(
            type='SegformerHead', in_channels=[8, 16], in_index=[0, 1], channels=8,
            num_classes=2, loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)))
        warnings.warn_explicit('an unrelated mmseg warning', UserWarning, 'builder.py', 1,
                               module='mmseg.models.builder')
        warnings.warn_explicit('``build_loss`` would be deprecated soon (from elsewhere)',
                               UserWarning, 'mine.py', 1, module='my_package.mine')
    """, '-W', 'always')
    assert res.returncode == 0, res.stderr[-3000:]
    err = res.stderr
    assert 'MultiScaleDeformableAttention' not in err, err[-3000:]
    assert 'would be deprecated soon, please use' not in err, err[-3000:]
    assert 'For binary segmentation' not in err, err[-3000:]
    assert 'an unrelated mmseg warning' in err
    assert '(from elsewhere)' in err
