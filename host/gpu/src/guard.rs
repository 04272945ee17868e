//! Loop guards for product kernels, so a shader that never ends still ends.
//!
//! A GPU cannot stop a dispatch that is running, and a compute GPU without a display has no
//! watchdog: a product's `loop {}` would hold the device for good. Before compiling a product's
//! kernel, the host rewrites its naga IR: one iteration counter per invocation (a `private`
//! global, shared by every function the invocation calls), and every loop body starts by
//! counting one iteration. At the bound the loop breaks and sets a flag in a buffer the host
//! adds (`@group(1) @binding(0)`); from then on every loop the invocation enters or continues
//! breaks at once, so the invocation ends promptly. The host reads the flag after the dispatch
//! and fails the kernel as stopped: data from a cut-short kernel is never returned as if
//! complete. The bound counts all loop iterations of one invocation, nested loops and loops in
//! called functions included; the counter never passes the bound, so it cannot wrap.

use naga::{
    AddressSpace, BinaryOperator, Block, Expression, Function, GlobalVariable, Handle, Literal,
    Module, ResourceBinding, Scalar, Span, Statement, StorageAccess, Type, TypeInner,
};

/// The group of the flag buffer the guard writes.
pub(crate) const GUARD_GROUP: u32 = 1;

/// Adds the flag buffer and a counted guard at the top of every loop body; returns the flag.
pub(crate) fn bound_loops(module: &mut Module, max_iterations: u32) -> Handle<GlobalVariable> {
    let u32_type = module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Scalar(Scalar::U32),
        },
        Span::UNDEFINED,
    );
    let flag = module.global_variables.append(
        GlobalVariable {
            name: Some("tessera_loop_guard".into()),
            space: AddressSpace::Storage {
                access: StorageAccess::LOAD | StorageAccess::STORE,
            },
            binding: Some(ResourceBinding {
                group: GUARD_GROUP,
                binding: 0,
            }),
            ty: u32_type,
            init: None,
            memory_decorations: naga::MemoryDecorations::empty(),
        },
        Span::UNDEFINED,
    );
    let zero = module
        .global_expressions
        .append(Expression::Literal(Literal::U32(0)), Span::UNDEFINED);
    // `private`: one per invocation, seen by every function it calls.
    let counter = module.global_variables.append(
        GlobalVariable {
            name: Some("tessera_loop_count".into()),
            space: AddressSpace::Private,
            binding: None,
            ty: u32_type,
            init: Some(zero),
            memory_decorations: naga::MemoryDecorations::empty(),
        },
        Span::UNDEFINED,
    );
    for (_, function) in module.functions.iter_mut() {
        guard_function(function, counter, flag, max_iterations);
    }
    for point in &mut module.entry_points {
        guard_function(&mut point.function, counter, flag, max_iterations);
    }
    flag
}

fn guard_function(
    function: &mut Function,
    counter: Handle<GlobalVariable>,
    flag: Handle<GlobalVariable>,
    max_iterations: u32,
) {
    if !has_loop(&function.body) {
        return;
    }
    let mut body = std::mem::take(&mut function.body);
    let guard = Guard {
        counter,
        flag,
        max_iterations,
    };
    guard.block(&mut body, function);
    function.body = body;
}

fn has_loop(block: &Block) -> bool {
    block.iter().any(|statement| match statement {
        Statement::Loop { .. } => true,
        Statement::Block(b) => has_loop(b),
        Statement::If { accept, reject, .. } => has_loop(accept) || has_loop(reject),
        Statement::Switch { cases, .. } => cases.iter().any(|c| has_loop(&c.body)),
        _ => false,
    })
}

struct Guard {
    counter: Handle<GlobalVariable>,
    flag: Handle<GlobalVariable>,
    max_iterations: u32,
}

impl Guard {
    fn block(&self, block: &mut Block, function: &mut Function) {
        for (statement, _) in block.span_iter_mut() {
            match statement {
                Statement::Loop {
                    body, continuing, ..
                } => {
                    self.block(body, function);
                    self.block(continuing, function);
                    let mut guarded = self.statements(function);
                    guarded.append(body);
                    *body = guarded;
                }
                Statement::Block(b) => self.block(b, function),
                Statement::If { accept, reject, .. } => {
                    self.block(accept, function);
                    self.block(reject, function);
                }
                Statement::Switch { cases, .. } => {
                    for case in cases.iter_mut() {
                        self.block(&mut case.body, function);
                    }
                }
                _ => {}
            }
        }
    }

    /// `if count >= max { flag = 1; break; } count = count + 1;`
    fn statements(&self, function: &mut Function) -> Block {
        let span = Span::UNDEFINED;
        let exprs = &mut function.expressions;
        let pointer = exprs.append(Expression::GlobalVariable(self.counter), span);
        let one = exprs.append(Expression::Literal(Literal::U32(1)), span);
        let max = exprs.append(Expression::Literal(Literal::U32(self.max_iterations)), span);
        let flag = exprs.append(Expression::GlobalVariable(self.flag), span);
        let load = exprs.append(Expression::Load { pointer }, span);
        let at_bound = exprs.append(
            Expression::Binary {
                op: BinaryOperator::GreaterEqual,
                left: load,
                right: max,
            },
            span,
        );
        let next = exprs.append(
            Expression::Binary {
                op: BinaryOperator::Add,
                left: load,
                right: one,
            },
            span,
        );
        let mut stop = Block::new();
        stop.push(
            Statement::Store {
                pointer: flag,
                value: one,
            },
            span,
        );
        stop.push(Statement::Break, span);
        let mut block = Block::new();
        block.push(
            Statement::Emit(naga::Range::new_from_bounds(load, at_bound)),
            span,
        );
        block.push(
            Statement::If {
                condition: at_bound,
                accept: stop,
                reject: Block::new(),
            },
            span,
        );
        block.push(
            Statement::Emit(naga::Range::new_from_bounds(next, next)),
            span,
        );
        block.push(
            Statement::Store {
                pointer,
                value: next,
            },
            span,
        );
        block
    }
}
